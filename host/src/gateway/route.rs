//! Route matching within one deployment: a trie over path segments, built once per
//! deployment when the snapshot is rebuilt. Matching walks the request path once
//! (O(path length)); it never scans the list of routes.
//!
//! Precedence, as API Gateway: a literal segment beats `{param}`, which beats a greedy
//! `{proxy+}`. If the most specific resource doesn't declare the request's method (nor
//! ANY), matching falls back to the less specific branches — so a verb not declared on
//! `/orders/{id}` reaches `ANY /{proxy+}` when one exists.

use crate::model::api::{Method, Segment};
use crate::store::RouteRecord;
use std::collections::HashMap;

/// Methods declared on one resource: route index per concrete method, and for ANY.
#[derive(Default, Debug)]
struct Endpoint {
    methods: [Option<usize>; 7],
    any: Option<usize>,
}

impl Endpoint {
    fn get(&self, m: Method) -> Option<usize> {
        self.methods[m as usize].or(self.any)
    }
    fn set(&mut self, m: Method, idx: usize) {
        match m {
            Method::Any => self.any = Some(idx),
            m => self.methods[m as usize] = Some(idx),
        }
    }
}

#[derive(Default, Debug)]
struct Node {
    endpoint: Endpoint,
    literals: HashMap<String, Node>,
    param: Option<(String, Box<Node>)>,
    greedy: Option<(String, Endpoint)>,
}

/// The matcher of one deployment.
#[derive(Default, Debug)]
pub struct RouteTable {
    root: Node,
}

/// A match: the route's index in the deployment and the path parameters (raw, still
/// percent-encoded as they appeared in the request).
#[derive(Debug, PartialEq)]
pub struct RouteMatch<'p> {
    pub route: usize,
    pub params: Vec<(&'p str, &'p str)>,
}

impl RouteTable {
    pub fn build(routes: &[RouteRecord]) -> Self {
        let mut root = Node::default();
        for (idx, r) in routes.iter().enumerate() {
            let mut node = &mut root;
            let segs = r.path.segments();
            for (i, seg) in segs.iter().enumerate() {
                match seg {
                    Segment::Literal(l) => node = node.literals.entry(l.clone()).or_default(),
                    Segment::Param(p) => {
                        node = &mut node.param.get_or_insert_with(|| (p.clone(), Box::default())).1;
                    }
                    Segment::Greedy(g) => {
                        debug_assert_eq!(i, segs.len() - 1, "greedy is last (checked at parse)");
                        node.greedy.get_or_insert_with(|| (g.clone(), Endpoint::default())).1.set(r.method, idx);
                    }
                }
            }
            if !matches!(segs.last(), Some(Segment::Greedy(_))) {
                node.endpoint.set(r.method, idx);
            }
        }
        RouteTable { root }
    }

    /// Matches `path` (starting with `/`, no query) for `method`.
    pub fn find<'p>(&'p self, method: Method, path: &'p str) -> Option<RouteMatch<'p>> {
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        let segs: Vec<&'p str> = if trimmed.is_empty() { Vec::new() } else { trimmed.split('/').collect() };
        let mut params = Vec::new();
        let route = find_in(&self.root, method, trimmed, &segs, 0, &mut params)?;
        Some(RouteMatch { route, params })
    }
}

fn find_in<'p>(
    node: &'p Node,
    method: Method,
    full: &'p str,
    segs: &[&'p str],
    i: usize,
    params: &mut Vec<(&'p str, &'p str)>,
) -> Option<usize> {
    if i == segs.len() {
        if let Some(idx) = node.endpoint.get(method) {
            return Some(idx);
        }
    } else {
        let seg = segs[i];
        if let Some(child) = node.literals.get(seg) {
            if let Some(idx) = find_in(child, method, full, segs, i + 1, params) {
                return Some(idx);
            }
        }
        if let Some((name, child)) = &node.param {
            if !seg.is_empty() {
                params.push((name.as_str(), seg));
                if let Some(idx) = find_in(child, method, full, segs, i + 1, params) {
                    return Some(idx);
                }
                params.pop();
            }
        }
    }
    // Greedy: one or more remaining segments.
    if i < segs.len() {
        if let Some((name, ep)) = &node.greedy {
            if let Some(idx) = ep.get(method) {
                let offset = segs[..i].iter().map(|s| s.len() + 1).sum::<usize>();
                params.push((name.as_str(), &full[offset..]));
                return Some(idx);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::api::{Integration, RoutePath};

    fn routes(spec: &[(&str, &str)]) -> Vec<RouteRecord> {
        spec.iter()
            .map(|(m, p)| RouteRecord {
                id: format!("{m} {p}"),
                method: Method::parse(m).unwrap(),
                path: RoutePath::parse(p).unwrap(),
                integration: Integration::Mock { status: 200, body: String::new(), headers: Default::default() },
                created_at: String::new(),
                updated_at: String::new(),
            })
            .collect()
    }

    #[test]
    fn precedence_and_fallback() {
        let rs = routes(&[
            ("GET", "/orders/{id}"),
            ("GET", "/orders/list"),
            ("POST", "/orders"),
            ("ANY", "/{proxy+}"),
            ("GET", "/"),
        ]);
        let t = RouteTable::build(&rs);
        let m = t.find(Method::Get, "/orders/list").unwrap();
        assert_eq!((m.route, m.params), (1, vec![]));
        let m = t.find(Method::Get, "/orders/42").unwrap();
        assert_eq!((m.route, m.params), (0, vec![("id", "42")]));
        // DELETE isn't declared on /orders/{id}: falls through to ANY /{proxy+}.
        let m = t.find(Method::Delete, "/orders/42").unwrap();
        assert_eq!((m.route, m.params), (3, vec![("proxy", "orders/42")]));
        assert_eq!(t.find(Method::Post, "/orders").unwrap().route, 2);
        assert_eq!(t.find(Method::Get, "/").unwrap().route, 4);
        // The greedy variable never matches the empty path.
        assert_eq!(t.find(Method::Post, "/"), None);
        let m = t.find(Method::Get, "/a/b/c").unwrap();
        assert_eq!(m.params, vec![("proxy", "a/b/c")]);
    }

    #[test]
    fn no_match_without_greedy() {
        let t = RouteTable::build(&routes(&[("GET", "/orders/{id}")]));
        assert!(t.find(Method::Get, "/orders").is_none());
        assert!(t.find(Method::Post, "/orders/1").is_none());
        assert!(t.find(Method::Get, "/orders/1/x").is_none());
        assert!(t.find(Method::Get, "/orders/1/").is_some(), "a trailing slash is ignored");
    }

    #[test]
    fn nested_greedy() {
        let t = RouteTable::build(&routes(&[("GET", "/static/{file+}"), ("GET", "/{proxy+}")]));
        assert_eq!(t.find(Method::Get, "/static/css/a.css").unwrap().params, vec![("file", "css/a.css")]);
        assert_eq!(t.find(Method::Get, "/other").unwrap().params, vec![("proxy", "other")]);
    }
}
