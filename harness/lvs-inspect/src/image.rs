//! Where the bytes come from: a file (read with pread, never mapped or read
//! whole) or a buffer.

use std::fs::File;
use std::os::unix::fs::FileExt;

/// A random-access image of a base bdev.
pub trait Image {
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fill `buf` from `offset`; callers check bounds against [`Image::len`] first.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
}

impl Image for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let start = usize::try_from(offset)
            .ok()
            .filter(|s| {
                s.checked_add(buf.len())
                    .is_some_and(|e| e <= <[u8]>::len(self))
            })
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(&self[start..start + buf.len()]);
        Ok(())
    }
}

impl Image for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.as_slice().read_at(offset, buf)
    }
}

/// A file and its length when it was opened.
pub struct FileImage {
    file: File,
    len: u64,
}

impl FileImage {
    pub fn new(file: File) -> std::io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(FileImage { file, len })
    }
}

impl Image for FileImage {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }
}
