//! `make patches-submit` (ci/patches.sh submit) with throwaway identities:
//! it refuses the series' placeholder and a missing identity, and otherwise
//! writes the master series authored and signed off by the submitter, each
//! commit with one Change-Id, the same changes as patches/master, and the
//! same Change-Ids when run again. The series checks it runs first
//! (check-export, check-each, check-format) are CI's own steps; here they are
//! off (SUBMIT_CHECKS=0) so that the test takes seconds.

use spdk_harness::build::workspace_root;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PLACEHOLDER_NAME: &str = "Placeholder for the submitter";
const PLACEHOLDER_EMAIL: &str = "dco-placeholder@spdk-harness.invalid";

/// ci/patches.sh submit as IDENTITY (None: no identity at all), writing to
/// OUT. Only the identity given here is seen: the user's and the system's
/// git config are left out.
fn submit(identity: Option<(&str, &str)>, out: &Path, home: &Path) -> Output {
    let root = workspace_root();
    let mut c = Command::new(root.join("ci/patches.sh"));
    c.args(["submit", "--base", "master"])
        .env("SUBMIT_CHECKS", "0")
        .env("SUBMIT_DIR", out)
        .env("HOME", home)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("GIT_AUTHOR_NAME")
        .env_remove("GIT_AUTHOR_EMAIL")
        .env_remove("GIT_COMMITTER_NAME")
        .env_remove("GIT_COMMITTER_EMAIL")
        .env_remove("EMAIL");
    match identity {
        Some((name, email)) => {
            c.env("GIT_CONFIG_COUNT", "2")
                .env("GIT_CONFIG_KEY_0", "user.name")
                .env("GIT_CONFIG_VALUE_0", name)
                .env("GIT_CONFIG_KEY_1", "user.email")
                .env("GIT_CONFIG_VALUE_1", email);
        }
        None => {
            c.env("GIT_CONFIG_COUNT", "0");
        }
    }
    c.output().expect("run ci/patches.sh")
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("run git");
    assert!(o.status.success(), "git {args:?}: {}", text(&o.stderr));
    text(&o.stdout)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn series() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(workspace_root().join("patches/master"))
        .expect("patches/master")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "patch"))
        .collect();
    v.sort();
    v
}

/// `git patch-id --stable` of a patch file or of a commit's diff: the same
/// for the same change, whatever the message and identity.
fn patch_id(diff: &str) -> String {
    use std::io::Write;
    let mut p = Command::new("git")
        .args(["patch-id", "--stable"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("git patch-id");
    p.stdin
        .take()
        .expect("stdin")
        .write_all(diff.as_bytes())
        .expect("write");
    let o = p.wait_with_output().expect("git patch-id");
    text(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

struct Commit {
    author: String,
    committer: String,
    message: String,
    diff: String,
}

/// The commits from PIN to HEAD, oldest first.
fn commits(repo: &Path, pin: &str) -> Vec<Commit> {
    let list = git(repo, &["rev-list", "--reverse", &format!("{pin}..HEAD")]);
    list.lines()
        .map(|c| Commit {
            author: git(repo, &["log", "-1", "--format=%an <%ae>", c])
                .trim()
                .to_string(),
            committer: git(repo, &["log", "-1", "--format=%cn <%ce>", c])
                .trim()
                .to_string(),
            message: git(repo, &["log", "-1", "--format=%B", c]),
            diff: git(repo, &["show", "--format=", "--patch", c]),
        })
        .collect()
}

#[test]
fn submit_refuses_the_placeholder_and_a_missing_identity() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("out");
    let o = submit(
        Some((PLACEHOLDER_NAME, PLACEHOLDER_EMAIL)),
        &out,
        tmp.path(),
    );
    assert!(!o.status.success(), "submitted as the placeholder");
    assert!(
        text(&o.stderr).contains("is not a person's identity"),
        "{}",
        text(&o.stderr)
    );
    let o = submit(
        Some(("Someone", "someone@example.invalid")),
        &out,
        tmp.path(),
    );
    assert!(!o.status.success(), "submitted with an .invalid address");
    let o = submit(None, &out, tmp.path());
    assert!(!o.status.success(), "submitted with no identity");
    assert!(
        text(&o.stderr).contains("set git config user.name and user.email"),
        "{}",
        text(&o.stderr)
    );
    assert!(!out.exists(), "a refused submit wrote {}", out.display());
}

#[test]
fn submit_signs_the_series_as_the_submitter_with_stable_change_ids() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let me = ("Throwaway Tester", "throwaway.tester@example.com");
    let signed = format!("Signed-off-by: {} <{}>", me.0, me.1);
    let out = tmp.path().join("out");
    let run = |out: &Path| {
        let o = submit(Some(me), out, tmp.path());
        assert!(
            o.status.success(),
            "submit failed: {}{}",
            text(&o.stdout),
            text(&o.stderr)
        );
        let pin = std::fs::read_to_string(workspace_root().join("ci/sources.tsv"))
            .expect("ci/sources.tsv")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split('\t').filter(|f| !f.is_empty()).collect::<Vec<_>>())
            .find(|f| f.len() >= 4 && f[0] == "master" && f[1] == "spdk")
            .map(|f| f[3].to_string())
            .expect("master's spdk pin");
        let repo = out.join("spdk");
        let branch = git(&repo, &["rev-parse", "--abbrev-ref", "HEAD"]);
        assert_eq!(branch.trim(), "for-review");
        commits(&repo, &pin)
    };
    let first = run(&out);
    let series = series();
    assert_eq!(first.len(), series.len(), "one commit for each patch");
    let mut ids = BTreeSet::new();
    for (c, p) in first.iter().zip(&series) {
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        let who = format!("{} <{}>", me.0, me.1);
        assert_eq!(c.author, who, "{name}: author");
        assert_eq!(c.committer, who, "{name}: committer");
        assert!(
            !c.message.contains(PLACEHOLDER_EMAIL),
            "{name}: the placeholder is left in\n{}",
            c.message
        );
        let trailers: Vec<&str> = c.message.lines().collect();
        assert_eq!(
            trailers.iter().filter(|l| **l == signed).count(),
            1,
            "{name}: one Signed-off-by of the submitter\n{}",
            c.message
        );
        let change: Vec<&str> = trailers
            .iter()
            .filter_map(|l| l.strip_prefix("Change-Id: "))
            .collect();
        assert_eq!(change.len(), 1, "{name}: one Change-Id\n{}", c.message);
        let id = change[0];
        assert!(
            id.len() == 41 && id.starts_with('I') && id[1..].chars().all(|x| x.is_ascii_hexdigit()),
            "{name}: Change-Id {id} is not I and 40 hex digits"
        );
        assert!(ids.insert(id.to_string()), "{name}: Change-Id {id} twice");
        // The trailers close the message: Gerrit reads the Change-Id from its
        // last paragraph.
        let last = c.message.trim_end().rsplit("\n\n").next().unwrap_or("");
        assert!(
            last.contains(&signed) && last.contains("Change-Id: "),
            "{name}: the trailers are not the last paragraph\n{}",
            c.message
        );
        let file = std::fs::read_to_string(p).expect("patch file");
        assert_eq!(
            patch_id(&c.diff),
            patch_id(&file),
            "{name}: the submitted commit changes other lines than the patch"
        );
    }
    // Again, elsewhere: the same Change-Ids, so Gerrit takes a new patch set
    // of each change instead of new changes.
    let again = run(&tmp.path().join("again"));
    let ids_again: BTreeSet<String> = again
        .iter()
        .flat_map(|c| {
            c.message
                .lines()
                .filter_map(|l| l.strip_prefix("Change-Id: "))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        ids, ids_again,
        "Change-Ids differ from one submit to the next"
    );
    assert!(
        out.join("patches").read_dir().map_or(0, |d| d.count()) == series.len(),
        "patches for mail: one per commit"
    );
}
