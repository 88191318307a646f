//! The scenario table itself. The scenarios run against a target in `make
//! verify` (which `make test` runs too): one `spdk-verify` process, one lab
//! per scenario, the table and JUnit XML. These tests check the table: every
//! scenario has a unique name, a description, and every lifecycle cell its
//! place in the operation × event grid.

use spdk_harness::faults::{cell_name, cell_of, EVENTS, OPS};
use spdk_harness::scenarios::all;
use std::collections::BTreeSet;

#[test]
fn scenario_names_are_unique_and_described() {
    let all = all();
    let names: BTreeSet<&str> = all.iter().map(|s| s.name).collect();
    assert_eq!(names.len(), all.len(), "a scenario name is used twice");
    for s in &all {
        assert!(!s.about.is_empty(), "{} has no description", s.name);
        assert!(
            s.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{}: names are snake_case",
            s.name
        );
    }
}

#[test]
fn every_lifecycle_cell_is_a_scenario() {
    let all = all();
    for op in OPS {
        for ev in EVENTS {
            let name = cell_name(op, ev);
            let s = all
                .iter()
                .find(|s| s.name == name)
                .unwrap_or_else(|| panic!("cell {name} is not a scenario"));
            assert_eq!(cell_of(s.name), Some((op, ev)));
            assert_eq!(s.bug, spdk_harness::faults::bug_of(op, ev), "{name}");
        }
    }
    let cells = all.iter().filter(|s| cell_of(s.name).is_some()).count();
    assert_eq!(cells, OPS.len() * EVENTS.len());
}
