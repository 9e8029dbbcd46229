//! Lambda's code packages: `ZipFile` (base64 in JSON) is a zip archive holding one
//! `.wasm` module, or the module itself. The module is what Waygate stores and runs; the
//! package's SHA-256 is what Lambda calls `CodeSha256`.

use crate::control::error::ApiError;
use std::io::Read;

/// Wasm's magic number: a package starting with it is the module itself.
const WASM_MAGIC: &[u8] = b"\0asm";

/// The module inside `package` (a zip holding exactly one `*.wasm` file, or the module
/// itself), at most `max_module` bytes once unpacked.
pub fn module(package: &[u8], max_module: usize) -> Result<bytes::Bytes, ApiError> {
    if package.starts_with(WASM_MAGIC) {
        return Ok(bytes::Bytes::copy_from_slice(package));
    }
    if !package.starts_with(b"PK") {
        return Err(ApiError::BadRequest(
            "Could not unzip uploaded file. Please check your file, then try to upload again. \
             (ZipFile must be a zip archive holding one .wasm module, or the module itself.)"
                .into(),
        ));
    }
    let unreadable = |e: zip::result::ZipError| {
        ApiError::BadRequest(format!(
            "Could not unzip uploaded file. Please check your file, then try to upload again. ({e})"
        ))
    };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(package)).map_err(unreadable)?;
    let modules: Vec<usize> = (0..archive.len())
        .filter(|i| {
            archive
                .by_index_raw(*i)
                .is_ok_and(|f| f.is_file() && f.name().is_ok_and(|n| n.to_ascii_lowercase().ends_with(".wasm")))
        })
        .collect();
    let index = match modules[..] {
        [one] => one,
        [] => {
            return Err(ApiError::BadRequest(
                "The zip file holds no .wasm module: Waygate runs one WebAssembly module per function".into(),
            ))
        }
        _ => {
            return Err(ApiError::BadRequest(format!(
                "The zip file holds {} .wasm modules: put exactly one in it",
                modules.len()
            )))
        }
    };
    let file = archive.by_index(index).map_err(unreadable)?;
    // Read at most one byte past the limit: a zip bomb is refused without inflating it.
    let mut wasm = Vec::new();
    file.take(max_module as u64 + 1)
        .read_to_end(&mut wasm)
        .map_err(|e| ApiError::BadRequest(format!("Could not unzip uploaded file: {e}")))?;
    if wasm.len() > max_module {
        return Err(ApiError::PayloadTooLarge(format!("Unzipped size must be smaller than {max_module} bytes")));
    }
    Ok(wasm.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, bytes) in files {
            w.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            w.write_all(bytes).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn a_zip_gives_its_one_module_and_a_module_is_itself() {
        let wasm = b"\0asm\x01\0\0\0";
        assert_eq!(&module(wasm, 100).unwrap()[..], wasm);
        let z = zip(&[("README.md", b"hi"), ("app.wasm", wasm)]);
        assert_eq!(&module(&z, 100).unwrap()[..], wasm);
        let err = |r: Result<bytes::Bytes, ApiError>| r.unwrap_err().to_string();
        assert!(err(module(&zip(&[("a.txt", b"x")]), 100)).contains("no .wasm"));
        assert!(err(module(&zip(&[("a.wasm", wasm), ("b.wasm", wasm)]), 100)).contains("2 .wasm modules"));
        assert!(err(module(b"not a zip", 100)).contains("Could not unzip"));
        assert!(err(module(&zip(&[("a.wasm", &[0u8; 200])]), 100)).contains("smaller than 100"));
    }
}
