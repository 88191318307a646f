//! `lvs-inspect FILE [--json]`: what is in the blobstore on the file behind
//! an AIO base bdev. Run it while no target has the file open.
//!
//! Exit status: 0 when read and consistent, 1 when read with findings (gaps
//! between the store's bookkeeping and its blobs), 2 when the image can't be
//! read (truncated, corrupt, not a blobstore), 64 on a usage error.

use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!("usage: lvs-inspect FILE [--json]");
    ExitCode::from(64)
}

fn main() -> ExitCode {
    let mut file = None;
    let mut json = false;
    for a in std::env::args_os().skip(1) {
        match a.to_str() {
            Some("--json") => json = true,
            Some("-h") | Some("--help") => {
                println!("usage: lvs-inspect FILE [--json]");
                return ExitCode::SUCCESS;
            }
            Some(s) if s.starts_with('-') => return usage(),
            _ if file.is_none() => file = Some(a),
            _ => return usage(),
        }
    }
    let Some(file) = file else {
        return usage();
    };
    match lvs_inspect::Store::open(&file) {
        Ok(store) => {
            if json {
                match serde_json::to_string_pretty(&store) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("lvs-inspect: cannot write JSON: {e}");
                        return ExitCode::from(2);
                    }
                }
            } else {
                print!("{}", lvs_inspect::report::table(&store));
            }
            if store.findings.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!(
                "lvs-inspect: {}: {e}",
                std::path::Path::new(&file).display()
            );
            ExitCode::from(2)
        }
    }
}
