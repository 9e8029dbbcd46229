//! Upload-time checks and compilation. Everything that can be wrong with uploaded code is
//! found here, before anything is stored, and reported with a message naming the problem.
//! Compilation happens here: at upload, at startup (engine fingerprint changed, or an
//! artifact file is missing), and on the request path only to repair a missing or corrupt
//! artifact from its verified blob (off the reactor, logged as an error).

use crate::model::GuestKind;
use wasmtime::{ExternType, Module};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CompileError(pub String);

fn bad(msg: impl Into<String>) -> CompileError {
    CompileError(msg.into())
}

/// What compilation produced: the guest ABI the code speaks, decided here once (recorded
/// with the artifact, carried by every `CodeRef`), and the artifact bytes.
#[derive(Debug)]
pub struct Compiled {
    pub kind: GuestKind,
    pub artifact: Vec<u8>,
}

/// Validates `wasm` as code of a guest kind the host runs (today: a WASI preview1 command
/// module whose imports the host can satisfy), and compiles it. CPU-heavy: call it off the
/// async reactor. `Runtime::compile` for the runtime's engine and linker; the loader calls
/// it directly when it repairs an artifact off the reactor.
pub(crate) fn compile_with(
    engine: &wasmtime::Engine,
    linker: &wasmtime::Linker<super::host_state::HostState>,
    wasm: &[u8],
) -> Result<Compiled, CompileError> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err(bad("Code is not a WebAssembly binary: it does not start with the \\0asm magic bytes"));
    }
    // The binary's version/layer field decides the guest kind: a core module is a stdio
    // proxy; a component (wasi:http next) would be recognised here.
    let kind = match &wasm[4..8] {
        [1, 0, 0, 0] => GuestKind::StdioProxy,
        [_, _, 1, 0] => {
            return Err(bad("Code is a WebAssembly component, which is not supported yet: upload a WASI preview1 \
                     core module (built for wasm32-wasip1)"))
        }
        v => {
            return Err(bad(format!(
                "Unsupported WebAssembly binary version {v:?}: expected a core module (version 1)"
            )))
        }
    };
    Module::validate(engine, wasm).map_err(|e| bad(format!("Invalid WebAssembly module: {e:#}")))?;
    let module = Module::new(engine, wasm).map_err(|e| bad(format!("Module could not be compiled: {e:#}")))?;
    match module.get_export("_start") {
        Some(ExternType::Func(f)) if f.params().len() == 0 && f.results().len() == 0 => {}
        _ => {
            return Err(bad("Module does not export a `_start` function of type [] -> []: build it as a WASI \
                     command (for Rust: a binary crate with --target wasm32-wasip1)"))
        }
    }
    for import in module.imports() {
        let is_wasi_func = import.module() == "wasi_snapshot_preview1" && matches!(import.ty(), ExternType::Func(_));
        if !is_wasi_func {
            return Err(bad(format!(
                "Unsupported import `{}::{}` ({}): functions may import only WASI preview1 \
                     (wasi_snapshot_preview1) functions",
                import.module(),
                import.name(),
                describe(&import.ty())
            )));
        }
    }
    // Same check the loader makes. It names an unknown WASI function or a wrong signature:
    // "unknown import: `wasi_snapshot_preview1::x` has not been defined".
    linker.instantiate_pre(&module).map_err(|e| bad(format!("Unsupported import: {e:#}")))?;
    let artifact = module.serialize().map_err(|e| bad(format!("Module could not be serialized: {e:#}")))?;
    Ok(Compiled { kind, artifact })
}

fn describe(t: &ExternType) -> &'static str {
    match t {
        ExternType::Func(_) => "function",
        ExternType::Memory(_) => "memory",
        ExternType::Table(_) => "table",
        ExternType::Global(_) => "global",
        ExternType::Tag(_) => "tag",
    }
}
