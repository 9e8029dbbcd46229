//! Where a gateway request is going: the invoke URL names the API and stage either in the
//! path (`/{api-id}/{stage}/{path}`) or, like AWS's, in the host name
//! (`Host: {api-id}.execute-api.localhost` with `/{stage}/{path}`).

pub const HOST_SUFFIX: &str = ".execute-api.localhost";

/// API id, stage name and the rest of the path (starting with `/`, still percent-encoded).
#[derive(Debug, PartialEq)]
pub struct Target<'a> {
    pub api: &'a str,
    pub stage: &'a str,
    pub path: &'a str,
}

pub fn locate<'a>(host: Option<&'a str>, path: &'a str) -> Option<Target<'a>> {
    let host_api =
        host.map(|h| h.rsplit_once(':').map_or(h, |(name, _port)| name)).and_then(|h| h.strip_suffix(HOST_SUFFIX));
    let (api, rest) = match host_api {
        Some(api) => (api, path),
        None => split_first(path)?,
    };
    let (stage, rest) = split_first(rest)?;
    Some(Target { api, stage, path: if rest.is_empty() { "/" } else { rest } })
}

/// `/a/b/c` → (`a`, `/b/c`); `/a` → (`a`, ``).
fn split_first(path: &str) -> Option<(&str, &str)> {
    let p = path.strip_prefix('/')?;
    let (first, rest) = match p.find('/') {
        Some(i) => (&p[..i], &p[i..]),
        None => (p, ""),
    };
    (!first.is_empty()).then_some((first, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_host_styles() {
        let t = |api, stage, path| Some(Target { api, stage, path });
        assert_eq!(locate(Some("127.0.0.1:8080"), "/abc/dev/orders/1"), t("abc", "dev", "/orders/1"));
        assert_eq!(locate(None, "/abc/dev"), t("abc", "dev", "/"));
        assert_eq!(locate(None, "/abc/dev/"), t("abc", "dev", "/"));
        assert_eq!(locate(Some("abc.execute-api.localhost:8080"), "/prod/x"), t("abc", "prod", "/x"));
        assert_eq!(locate(Some("abc.execute-api.localhost"), "/prod"), t("abc", "prod", "/"));
        assert_eq!(locate(None, "/abc"), None);
        assert_eq!(locate(None, "/"), None);
    }
}
