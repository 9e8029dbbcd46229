//! Which ABI a function's code speaks: decided once, when the code is compiled, and
//! recorded with its artifact. Each kind has one executor (`runtime::executor`).

/// The guest ABI of a piece of code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum GuestKind {
    /// A WASI preview1 command module: the event (or direct payload) on stdin, `_start`,
    /// the proxy response (or result) on stdout.
    #[default]
    StdioProxy,
    /// A WebAssembly component exporting `wasi:http/incoming-handler@0.2.x` (the
    /// `wasi:http/proxy` world): the gateway's request is its incoming request, its
    /// response the gateway's.
    WasiHttp,
    /// A WebAssembly component of Waygate's `waygate:function/handler` world
    /// (`wit/handler.wit`): a Lambda-style `handler(event, context)` function, in any
    /// language with a component toolchain.
    Handler,
}

impl GuestKind {
    /// The name stored in the artifacts table (`kind` column).
    pub fn as_str(self) -> &'static str {
        match self {
            GuestKind::StdioProxy => "stdio",
            GuestKind::WasiHttp => "wasi-http",
            GuestKind::Handler => "handler",
        }
    }

    pub fn parse(s: &str) -> Result<Self, super::Invalid> {
        match s {
            "stdio" => Ok(GuestKind::StdioProxy),
            "wasi-http" => Ok(GuestKind::WasiHttp),
            "handler" => Ok(GuestKind::Handler),
            other => Err(super::Invalid::new(format!("unknown guest kind '{other}'"))),
        }
    }
}

impl std::fmt::Display for GuestKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::GuestKind;

    #[test]
    fn names_round_trip() {
        assert_eq!(GuestKind::parse(GuestKind::StdioProxy.as_str()), Ok(GuestKind::StdioProxy));
        assert_eq!(GuestKind::parse(GuestKind::WasiHttp.as_str()), Ok(GuestKind::WasiHttp));
        assert_eq!(GuestKind::parse(GuestKind::Handler.as_str()), Ok(GuestKind::Handler));
        assert!(GuestKind::parse("command").is_err());
    }
}
