//! The "proxy over stdio" ABI, the first guest kind: a WASI preview1 command module reads
//! its input on stdin and writes its answer to stdout, `_start` is the whole call. From
//! the gateway the input is API Gateway's REST proxy event v1.0 ([`event`]) and the
//! answer a proxy response ([`response`]); from direct invoke both are the raw bytes.

pub mod event;
pub mod response;

use super::{Artifact, Code, EncodeError, Executor, GuestKind, GuestRequest, HttpReply, PrepareCx, Ran};
use crate::model::CodeHash;
use crate::runtime::compile::{bad, CompileError};
use crate::runtime::host_state::HostState;
use crate::runtime::wasi_p1::WasiView;
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{ExternType, InstancePre, Module, Store};

pub struct StdioProxy;

impl Executor for StdioProxy {
    const KIND: GuestKind = GuestKind::StdioProxy;
    type Template = Arc<InstancePre<HostState>>;
    /// The bytes put on stdin.
    type Input = Bytes;
    /// What the guest wrote to stdout.
    type Output = Bytes;

    /// A command module: a `_start` of type [] -> [] and nothing imported but WASI
    /// preview1 functions the host defines with the signatures it defines.
    fn compile(cx: &PrepareCx<'_>, code: Code<'_>) -> Result<Vec<u8>, CompileError> {
        let Code::Module(wasm) = code else { return Err(bad("a stdio proxy is a core module")) };
        Module::validate(cx.engine, wasm).map_err(|e| bad(format!("Invalid WebAssembly module: {e:#}")))?;
        let module = Module::new(cx.engine, wasm).map_err(|e| bad(format!("Module could not be compiled: {e:#}")))?;
        match module.get_export("_start") {
            Some(ExternType::Func(f)) if f.params().len() == 0 && f.results().len() == 0 => {}
            _ => {
                return Err(bad("Module does not export a `_start` function of type [] -> []: build it as a WASI \
                         command (for Rust: a binary crate with --target wasm32-wasip1)"))
            }
        }
        for import in module.imports() {
            let is_wasi_func =
                import.module() == "wasi_snapshot_preview1" && matches!(import.ty(), ExternType::Func(_));
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
        // Same check `prepare` makes. It names an unknown WASI function or a wrong
        // signature: "unknown import: `wasi_snapshot_preview1::x` has not been defined".
        cx.linker.instantiate_pre(&module).map_err(|e| bad(format!("Unsupported import: {e:#}")))?;
        module.serialize().map_err(|e| bad(format!("Module could not be serialized: {e:#}")))
    }

    unsafe fn prepare(cx: &PrepareCx<'_>, code: &CodeHash, artifact: Artifact<'_>) -> Result<Self::Template, String> {
        // SAFETY: `deserialize*` maps these bytes as executable code; the caller guarantees
        // they are what this engine's compiler produced for `code` (verified, or never
        // out of memory). A file is mapped rather than copied: what the check read is
        // what is mapped (artifact files are replaced by rename, never written in place).
        let module = match artifact {
            Artifact::Bytes(bytes) => unsafe { Module::deserialize(cx.engine, bytes) },
            Artifact::File(file) => unsafe { Module::deserialize_open_file(cx.engine, file) },
        }
        .map_err(|e| format!("compiled artifact for code {code} could not be loaded: {e:#}"))?;
        // Build the copy-on-write memory image now rather than in the first instantiation
        // (wasmtime does it lazily): part of loading, not of the first request.
        module
            .initialize_copy_on_write_image()
            .map_err(|e| format!("memory image for code {code} could not be built: {e:#}"))?;
        let pre = cx.linker.instantiate_pre(&module).map_err(|e| format!("code {code} could not be linked: {e:#}"))?;
        Ok(Arc::new(pre))
    }

    fn encode(req: GuestRequest<'_>, max_payload_bytes: usize) -> Result<Bytes, EncodeError> {
        match req {
            GuestRequest::Direct(payload) => Ok(payload),
            GuestRequest::Gateway(g) => event::encode(g, max_payload_bytes),
        }
    }

    async fn run(
        template: &Self::Template,
        store: &mut Store<HostState>,
        input: Bytes,
        started: Instant,
    ) -> Ran<Bytes> {
        store.data_mut().wasi().set_stdin(input);
        let mut instantiate = Duration::ZERO;
        let result = async {
            let instance = template.instantiate_async(&mut *store).await?;
            instantiate = started.elapsed();
            let start = instance.get_typed_func::<(), ()>(&mut *store, "_start")?;
            start.call_async(&mut *store, ()).await
        }
        .await;
        let (stdout, output_overflow) = store.data_mut().wasi().take_stdout();
        let output = if output_overflow { Bytes::new() } else { stdout };
        Ran { instantiate, result, output, output_overflow }
    }

    async fn warm(template: &Self::Template, store: &mut Store<HostState>) -> wasmtime::Result<()> {
        template.instantiate_async(store).await.map(drop)
    }

    fn http(output: &Bytes) -> Result<HttpReply, String> {
        response::parse(output).map_err(|why| format!("Malformed Lambda proxy response ({why})"))
    }

    fn raw(output: &Bytes) -> Bytes {
        output.clone()
    }
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
