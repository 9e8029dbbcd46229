//! Upload-time checks and compilation. Everything that can be wrong with uploaded code is
//! found here — what kind of guest the binary is, then (by that kind's executor, its
//! `Executor::compile`) whether the host can run it — before anything is stored, and
//! reported with a message naming the problem. Compilation happens here: at upload, at
//! startup (engine fingerprint changed, or an artifact file is missing), and on the
//! request path only to repair a missing or corrupt artifact from its verified blob (off
//! the reactor, logged as an error).

use super::executor::{self, component, Code, PrepareCx};
use crate::model::GuestKind;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CompileError(pub String);

pub(crate) fn bad(msg: impl Into<String>) -> CompileError {
    CompileError(msg.into())
}

/// What compilation produced: the guest ABI the code speaks, decided here once (recorded
/// with the artifact, carried by every `CodeRef`), and the artifact bytes.
#[derive(Debug)]
pub struct Compiled {
    pub kind: GuestKind,
    pub artifact: Vec<u8>,
    /// The code imports `wasi:http/outgoing-handler` (makes outbound HTTP requests).
    pub outgoing_http: bool,
}

/// Recognises `wasm` as code of a guest kind the host runs — a WASI preview1 command module,
/// or a component whose exported world (wasi:http proxy or Waygate handler) decides its
/// kind — and hands it to that kind's executor, which checks it can run it and compiles it
/// (`Executor::compile`). CPU-heavy: call it off the async reactor. `Runtime::compile` for
/// the runtime's engine and linker; the loader calls it directly when it repairs an
/// artifact off the reactor.
pub(crate) fn compile_with(
    engine: &wasmtime::Engine,
    linkers: &executor::Linkers,
    wasm: &[u8],
) -> Result<Compiled, CompileError> {
    let cx: PrepareCx<'_> = linkers.cx(engine);
    match recognise(wasm)? {
        Binary::Module => {
            let kind = GuestKind::StdioProxy;
            Ok(Compiled { kind, artifact: executor::compile(kind, &cx, Code::Module(wasm))?, outgoing_http: false })
        }
        Binary::Component => {
            // Compiled once (seconds for a JavaScript or Python engine): its exports then
            // tell the kind.
            let component = wasmtime::component::Component::new(engine, wasm)
                .map_err(|e| bad(format!("Component could not be compiled: {e:#}")))?;
            let kind = component::kind_of(engine, &component)?;
            let outgoing_http = component::imports_outgoing_http(engine, &component);
            Ok(Compiled { kind, artifact: executor::compile(kind, &cx, Code::Component(&component))?, outgoing_http })
        }
    }
}

/// What a binary's header says it is.
#[derive(Debug, PartialEq)]
enum Binary {
    Module,
    Component,
}

/// The binary's version/layer field tells a core module (a stdio proxy) from a component
/// (whose exports then decide its kind).
fn recognise(wasm: &[u8]) -> Result<Binary, CompileError> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err(bad("Code is not a WebAssembly binary: it does not start with the \\0asm magic bytes"));
    }
    match &wasm[4..8] {
        [1, 0, 0, 0] => Ok(Binary::Module),
        [_, _, 1, 0] => Ok(Binary::Component),
        v => Err(bad(format!("Unsupported WebAssembly binary version {v:?}: expected a core module (version 1)"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_kinds_by_header() {
        assert_eq!(recognise(b"\0asm\x01\0\0\0").ok(), Some(Binary::Module));
        let not_wasm = recognise(b"\x7fELF\x02\x01\x01\0").unwrap_err().0;
        assert!(not_wasm.contains("magic bytes"), "{not_wasm}");
        let short = recognise(b"\0asm").unwrap_err().0;
        assert!(short.contains("magic bytes"), "{short}");
        assert_eq!(recognise(b"\0asm\x0d\0\x01\0").ok(), Some(Binary::Component));
        let version = recognise(b"\0asm\x02\0\0\0").unwrap_err().0;
        assert!(version.contains("version"), "{version}");
    }
}
