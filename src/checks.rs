//! The checks every request passes before it is routed: head and target size, framing a proxy
//! could disagree about with the upstream, one authority, and path hygiene.

use http::Request;
use http::header;

use crate::config::Limits;
use crate::error::Refused;

/// Refuse a request the gateway must not route or forward.
pub fn request<B>(req: &Request<B>, limits: &Limits) -> Result<(), Refused> {
    if head_size(req) > limits.max_header_bytes {
        return Err(Refused::HeadTooLarge);
    }
    let target_len = req.uri().path_and_query().map_or(1, |p| p.as_str().len());
    if target_len > limits.max_uri_bytes {
        return Err(Refused::UriTooLong);
    }
    framing(req, limits)?;
    host(req)?;
    if crate::path::check_path(req.uri().path().as_bytes()).is_err() {
        return Err(Refused::BadRequest("Invalid request path"));
    }
    Ok(())
}

/// Size of the request head as it arrived, near enough: request line plus header lines.
fn head_size<B>(req: &Request<B>) -> usize {
    let uri = req.uri();
    let mut n = req.method().as_str().len()
        + uri.path_and_query().map_or(1, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len())
        + 12;
    for (name, value) in req.headers() {
        n += name.as_str().len() + value.len() + 4;
    }
    n
}

/// Refuse framing a proxy could disagree about with the upstream.
fn framing<B>(req: &Request<B>, limits: &Limits) -> Result<(), Refused> {
    let h = req.headers();
    if h.contains_key(crate::framing::AMBIGUOUS_MARK) {
        return Err(Refused::BadRequest(
            "Both Content-Length and Transfer-Encoding",
        ));
    }
    let te = h.get_all(header::TRANSFER_ENCODING);
    let mut te_count = 0;
    for v in te.iter() {
        te_count += 1;
        if !v.as_bytes().eq_ignore_ascii_case(b"chunked") {
            return Err(Refused::BadRequest("Unsupported transfer coding"));
        }
    }
    if te_count > 1 {
        return Err(Refused::BadRequest("Unsupported transfer coding"));
    }
    let mut cl: Option<u64> = None;
    for v in h.get_all(header::CONTENT_LENGTH) {
        let parsed = v
            .to_str()
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or(Refused::BadRequest("Invalid Content-Length"))?;
        if cl.is_some_and(|c| c != parsed) {
            return Err(Refused::BadRequest("Invalid Content-Length"));
        }
        cl = Some(parsed);
    }
    if te_count > 0 && cl.is_some() {
        return Err(Refused::BadRequest(
            "Both Content-Length and Transfer-Encoding",
        ));
    }
    if cl.is_some_and(|c| c > limits.max_body_bytes) {
        return Err(Refused::BodyTooLarge);
    }
    Ok(())
}

/// One authority per request: a second `Host`, or a `Host` that disagrees with `:authority`
/// or an absolute-form target, could make the upstream see another host than the one routed.
fn host<B>(req: &Request<B>) -> Result<(), Refused> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(Refused::BadRequest("More than one Host header"));
    }
    if let (Some(host), Some(authority)) = (host, req.uri().authority()) {
        if !host
            .as_bytes()
            .eq_ignore_ascii_case(authority.as_str().as_bytes())
        {
            return Err(Refused::BadRequest(
                "Host header does not match the request authority",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(target: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::post(target);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap()
    }

    fn check(target: &str, headers: &[(&str, &str)]) -> Result<(), Refused> {
        request(&req(target, headers), &Limits::default())
    }

    #[test]
    fn clean_request_passes() {
        assert_eq!(
            check("/a?b=c", &[("host", "x"), ("content-length", "3")]),
            Ok(())
        );
    }

    #[test]
    fn content_length_with_transfer_encoding_is_refused() {
        let r = check(
            "/a",
            &[("content-length", "3"), ("transfer-encoding", "chunked")],
        );
        assert!(matches!(r, Err(Refused::BadRequest(_))), "{r:?}");
    }

    #[test]
    fn differing_or_malformed_content_lengths_are_refused() {
        for cl in [&["1", "2"][..], &["+1"], &["1 "], &[""]] {
            let headers: Vec<(&str, &str)> = cl.iter().map(|v| ("content-length", *v)).collect();
            assert!(check("/a", &headers).is_err(), "{cl:?}");
        }
        assert_eq!(
            check("/a", &[("content-length", "7"), ("content-length", "7")]),
            Ok(())
        );
    }

    #[test]
    fn transfer_codings_other_than_chunked_are_refused() {
        assert!(check("/a", &[("transfer-encoding", "gzip, chunked")]).is_err());
        assert!(
            check(
                "/a",
                &[
                    ("transfer-encoding", "chunked"),
                    ("transfer-encoding", "chunked")
                ]
            )
            .is_err()
        );
    }

    #[test]
    fn a_body_over_the_limit_by_its_length_is_refused_before_it_is_read() {
        let big = (Limits::default().max_body_bytes + 1).to_string();
        assert_eq!(
            check("/a", &[("content-length", big.as_str())]),
            Err(Refused::BodyTooLarge)
        );
    }

    #[test]
    fn two_hosts_or_a_host_that_disagrees_with_the_authority_are_refused() {
        assert!(check("/a", &[("host", "a"), ("host", "b")]).is_err());
        assert!(check("https://a.example/x", &[("host", "b.example")]).is_err());
        assert_eq!(
            check("https://a.example/x", &[("host", "A.example")]),
            Ok(())
        );
    }

    #[test]
    fn long_targets_and_bad_paths_are_refused() {
        let long = format!("/{}", "a".repeat(Limits::default().max_uri_bytes));
        assert_eq!(check(&long, &[]), Err(Refused::UriTooLong));
        assert!(matches!(check("/a/../b", &[]), Err(Refused::BadRequest(_))));
        assert!(matches!(
            check("/a/%2e%2e/b", &[]),
            Err(Refused::BadRequest(_))
        ));
    }
}
