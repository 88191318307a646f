use std::path::PathBuf;

/// Why an image could not be read. Each message names the structure, where it
/// is, and what was wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "truncated image: {what} needs bytes {offset}..{end} but the image has {image_len} bytes"
    )]
    Truncated {
        what: String,
        offset: u64,
        end: u64,
        image_len: u64,
    },
    #[error("not a blobstore: the super block signature is {found:?}, expected \"SPDKBLOB\"")]
    NotABlobstore { found: String },
    #[error("bad super block: {0}")]
    SuperBlock(String),
    #[error("{what}: crc mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    Crc {
        what: String,
        stored: u32,
        computed: u32,
    },
    #[error("bad {what} mask: {why}")]
    Mask { what: &'static str, why: String },
    #[error("blob {blob:#x}, md page {page}: {why}")]
    Metadata { blob: u64, page: u32, why: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
