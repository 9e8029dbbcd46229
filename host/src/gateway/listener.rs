//! Where a gateway request is going: the invoke URL names the API and stage either in the
//! path (`/{api-id}/{stage}/{path}`) or, like AWS's, in the host name
//! (`Host: {api-id}.execute-api.localhost` with `/{stage}/{path}`).

use std::borrow::Cow;

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

/// The path with its dot segments removed (RFC 3986 §5.2.4): `/a/./b/../c` → `/a/c`,
/// `/../x` → `/x`. A segment is a dot segment also when percent-encoded (`%2e%2E`), since
/// it decodes to one. Borrowed (no work beyond one scan) when there is none, the usual case.
pub fn remove_dot_segments(path: &str) -> Cow<'_, str> {
    if !has_dot_segment(path) {
        return Cow::Borrowed(path);
    }
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let last = segments.len().saturating_sub(1);
    let mut trailing_slash = false;
    for (i, seg) in segments.iter().enumerate() {
        match dot_kind(seg) {
            Some(1) => trailing_slash = i == last,
            Some(_) => {
                out.pop();
                trailing_slash = i == last;
            }
            None => {
                out.push(seg);
                trailing_slash = false;
            }
        }
    }
    let mut s = String::with_capacity(path.len());
    for seg in &out {
        s.push('/');
        s.push_str(seg);
    }
    if trailing_slash || s.is_empty() {
        s.push('/');
    }
    Cow::Owned(s)
}

/// Whether any `/`-separated segment of `path` is `.` or `..` (plain or percent-encoded).
pub fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|s| dot_kind(s).is_some())
}

/// Whether a path parameter, once percent-decoded (as the function gets it), holds a dot
/// segment: encoded slashes (`..%2F..`) survive dot-segment removal and decode into `../..`.
pub fn decodes_to_dot_segment(param: &str) -> bool {
    param.contains('%') && has_dot_segment(&percent_encoding::percent_decode_str(param).decode_utf8_lossy())
}

/// `Some(1)` for `.`, `Some(2)` for `..` (each dot plain or as `%2e`/`%2E`), else `None`.
fn dot_kind(seg: &str) -> Option<u8> {
    let b = seg.as_bytes();
    if b.is_empty() || b.len() > 6 {
        return None;
    }
    let mut dots = 0u8;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'.' {
            i += 1;
        } else if b[i] == b'%' && b.len() >= i + 3 && b[i + 1] == b'2' && (b[i + 2] | 0x20) == b'e' {
            i += 3;
        } else {
            return None;
        }
        dots += 1;
    }
    (dots <= 2).then_some(dots)
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

    #[test]
    fn dot_segments_are_removed() {
        let n = |p| remove_dot_segments(p).into_owned();
        assert!(matches!(remove_dot_segments("/abc/dev/orders/1"), Cow::Borrowed(_)));
        assert!(matches!(remove_dot_segments("/a/.x/..y/..."), Cow::Borrowed(_)));
        assert_eq!(n("/a/./b/../c"), "/a/c");
        assert_eq!(n("/../x"), "/x");
        assert_eq!(n("/./x"), "/x");
        assert_eq!(n("/a/../b"), "/b");
        assert_eq!(n("/a/b/.."), "/a/");
        assert_eq!(n("/a/b/."), "/a/b/");
        assert_eq!(n("/.."), "/");
        assert_eq!(n("/api/dev/%2e%2E/prod/x"), "/api/prod/x");
        assert_eq!(n("/a/.%2e/b"), "/b");
        assert!(has_dot_segment("../etc"));
        assert!(!has_dot_segment("a..b/c"));
    }
}
