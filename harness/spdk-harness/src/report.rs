//! The verify report: a table on stdout and JUnit XML for CI.

use crate::outcome::{Expect, Outcome, Verdict};
use std::fmt::Write as _;

pub fn table(title: &str, outcomes: &[Outcome]) -> String {
    let w = outcomes
        .iter()
        .map(|o| o.name.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut s = String::new();
    let _ = writeln!(s, "\n{title}");
    let _ = writeln!(
        s,
        "{:<w$}  {:<6}  {:>7}  key figure / failure",
        "scenario", "result", "time"
    );
    let _ = writeln!(s, "{}", "-".repeat(w + 60));
    for o in outcomes {
        let _ = writeln!(
            s,
            "{:<w$}  {:<6}  {:>6.1}s  {}",
            o.name,
            o.verdict().label(),
            o.secs,
            o.summary()
        );
    }
    let bad = outcomes.iter().filter(|o| !o.verdict().ok()).count();
    if outcomes.iter().any(|o| o.expect != Expect::Pass) {
        let xfail = outcomes
            .iter()
            .filter(|o| o.verdict() == Verdict::ExpectedFail)
            .count();
        let _ = writeln!(
            s,
            "{} as expected ({} passed, {xfail} failed naming their bug), {bad} not",
            outcomes.len() - bad,
            outcomes.len() - bad - xfail,
        );
    } else {
        let _ = writeln!(s, "{} passed, {} failed", outcomes.len() - bad, bad);
    }
    s
}

/// What did not hold up, printed last so that the tail of a CI log names
/// it: each such scenario with its verdict and the last lines of its error
/// (the whole of it is in the JUnit XML and in the log above the table).
pub fn failures(outcomes: &[Outcome]) -> String {
    const TAIL: usize = 25;
    let bad: Vec<&Outcome> = outcomes.iter().filter(|o| !o.verdict().ok()).collect();
    let mut s = String::new();
    if bad.is_empty() {
        return s;
    }
    let _ = writeln!(s, "\nnot as expected: {}", bad.len());
    for o in bad {
        let _ = writeln!(
            s,
            "--- {} {} ({:.1}s): {}",
            o.verdict().label(),
            o.name,
            o.secs,
            o.summary()
        );
        let text = match &o.result {
            Ok(f) => f.as_str(),
            Err(e) => e.as_str(),
        };
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() > TAIL {
            let _ = writeln!(s, "    [{} lines before]", lines.len() - TAIL);
        }
        for l in &lines[lines.len().saturating_sub(TAIL)..] {
            let _ = writeln!(s, "    {l}");
        }
    }
    s
}

pub fn junit(suite: &str, outcomes: &[Outcome]) -> String {
    let failed = outcomes.iter().filter(|o| !o.verdict().ok()).count();
    let total: f64 = outcomes.iter().map(|o| o.secs).sum();
    let mut s = String::new();
    let _ = writeln!(s, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        s,
        r#"<testsuites><testsuite name="{}" tests="{}" failures="{failed}" time="{total:.3}">"#,
        esc(suite),
        outcomes.len()
    );
    for o in outcomes {
        let _ = write!(
            s,
            r#"  <testcase classname="{}" name="{}" time="{:.3}">"#,
            esc(suite),
            esc(o.name),
            o.secs
        );
        let full = match &o.result {
            Ok(f) => f.clone(),
            Err(e) => e.clone(),
        };
        if o.verdict().ok() {
            let _ = write!(
                s,
                "<system-out>{}: {}</system-out>",
                o.verdict().label(),
                esc(&full)
            );
        } else {
            let _ = write!(
                s,
                r#"<failure message="{}">{}</failure>"#,
                esc(&o.summary()),
                esc(&full)
            );
        }
        let _ = writeln!(s, "</testcase>");
    }
    let _ = writeln!(s, "</testsuite></testsuites>");
    s
}

fn esc(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcomes() -> Vec<Outcome> {
        vec![
            Outcome {
                name: "a",
                result: Ok("3 clusters".into()),
                secs: 1.0,
                expect: Expect::Pass,
            },
            Outcome {
                name: "b",
                result: Err("data differs at byte 7 <x>\nlog".into()),
                secs: 2.0,
                expect: Expect::Pass,
            },
        ]
    }

    const BUG: crate::outcome::Bug = crate::outcome::DETACH_REPARENTS;

    fn expecting(result: std::result::Result<String, String>) -> Outcome {
        Outcome {
            name: "x",
            result,
            secs: 0.5,
            expect: Expect::FailNaming(BUG),
        }
    }

    #[test]
    fn an_expected_failure_must_name_its_bug() {
        let named = expecting(Err(format!("parent is snap1 ({BUG})")));
        assert_eq!(named.verdict(), Verdict::ExpectedFail);
        assert!(named.verdict().ok());
        let other = expecting(Err("spdk_dd failed".into()));
        assert_eq!(other.verdict(), Verdict::FailedOtherwise);
        assert!(!other.verdict().ok());
        assert!(other
            .summary()
            .contains("expected a failure naming Longhorn #11046"));
        let passed = expecting(Ok("fine".into()));
        assert_eq!(passed.verdict(), Verdict::UnexpectedPass);
        assert!(!passed.verdict().ok());
        let t = table("t", &[named, other, passed]);
        assert!(
            t.contains("1 as expected (0 passed, 1 failed naming their bug), 2 not"),
            "{t}"
        );
        assert!(t.contains("XFAIL") && t.contains("XPASS"), "{t}");
    }

    #[test]
    fn table_counts_and_names_failures() {
        let t = table("t", &outcomes());
        assert!(t.contains("1 passed, 1 failed"), "{t}");
        assert!(
            t.contains("FAIL") && t.contains("data differs at byte 7"),
            "{t}"
        );
    }

    #[test]
    fn failures_come_last_with_their_error() {
        let f = failures(&outcomes());
        assert!(f.contains("not as expected: 1"), "{f}");
        assert!(
            f.contains("--- FAIL b (2.0s): data differs at byte 7"),
            "{f}"
        );
        assert!(f.contains("    log"), "{f}");
        assert!(!f.contains(" a "), "{f}");
        let long = Outcome {
            name: "c",
            result: Err((0..40).map(|i| format!("line {i}\n")).collect()),
            secs: 1.0,
            expect: Expect::Pass,
        };
        let f = failures(&[long]);
        assert!(
            f.contains("[15 lines before]") && f.contains("line 39"),
            "{f}"
        );
        assert!(!f.contains("line 14\n"), "{f}");
        assert!(failures(&outcomes()[..1]).is_empty());
    }

    #[test]
    fn junit_escapes_and_counts() {
        let x = junit("verify", &outcomes());
        assert!(x.contains(r#"tests="2" failures="1""#), "{x}");
        assert!(x.contains("&lt;x&gt;") && !x.contains("<x>"), "{x}");
    }
}
