//! The verify report: a table on stdout and JUnit XML for CI.

use crate::scenarios::Outcome;
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
        let (res, text) = match &o.result {
            Ok(f) => ("PASS", f.clone()),
            Err(e) => ("FAIL", e.lines().next().unwrap_or("").to_string()),
        };
        let _ = writeln!(s, "{:<w$}  {:<6}  {:>6.1}s  {}", o.name, res, o.secs, text);
    }
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    let _ = writeln!(s, "{} passed, {} failed", outcomes.len() - failed, failed);
    s
}

pub fn junit(suite: &str, outcomes: &[Outcome]) -> String {
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
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
        match &o.result {
            Ok(f) => {
                let _ = write!(s, "<system-out>{}</system-out>", esc(f));
            }
            Err(e) => {
                let first = e.lines().next().unwrap_or("");
                let _ = write!(
                    s,
                    r#"<failure message="{}">{}</failure>"#,
                    esc(first),
                    esc(e)
                );
            }
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
            },
            Outcome {
                name: "b",
                result: Err("data differs at byte 7 <x>\nlog".into()),
                secs: 2.0,
            },
        ]
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
    fn junit_escapes_and_counts() {
        let x = junit("verify", &outcomes());
        assert!(x.contains(r#"tests="2" failures="1""#), "{x}");
        assert!(x.contains("&lt;x&gt;") && !x.contains("<x>"), "{x}");
    }
}
