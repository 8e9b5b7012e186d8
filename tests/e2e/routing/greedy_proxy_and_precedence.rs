//! Route matching as API Gateway does it: `{name}` is one segment, `{name+}` one or more trailing
//! segments, a specific path beats a greedy one, an explicit method beats `ANY`, and a resource
//! without the request's method is a 403 (never a greedy sibling's); one variable path part per
//! level; path parameters are substituted into the integration URL and the query passes unchanged.

use crate::support::*;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;

const BACKEND: &str = "http://${stageVariables.backend}";

fn routes() -> String {
    [
        route(
            "ANY",
            "/items/{proxy+}",
            &format!("{BACKEND}/rest-service/items/{{proxy}}"),
        ),
        route(
            "GET",
            "/item/{id}",
            &format!("{BACKEND}/rest-service/item/{{id}}"),
        ),
        route("GET", "/items/special", &format!("{BACKEND}/special/get")),
        route("GET", "/items/readonly", &format!("{BACKEND}/readonly")),
        route("ANY", "/items/special", &format!("{BACKEND}/special/any")),
        route(
            "GET",
            "/orders/{order}/lines/{line}",
            &format!("{BACKEND}/o/{{order}}/l/{{line}}"),
        ),
    ]
    .concat()
}

async fn send(gw: &Gateway, pki: &Pki, method: &str, path: &str) -> Got {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    request(
        gw.addr(),
        "localhost",
        &pki.root.pem,
        Some(&pki.client),
        req,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn greedy_proxy_path_and_query_are_rewritten() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, &routes())).await;

    // Deeper than one segment: only the greedy route can take it.
    let got = get(&gw, &pki, "/items/a/b?q=1").await;
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.body, "upstream:/rest-service/items/a/b?q=1");

    // The query string passes through byte for byte.
    let got = get(&gw, &pki, "/items/a/b/c?q=1&x=%20y&flag&q=2").await;
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(
        got.body,
        "upstream:/rest-service/items/a/b/c?q=1&x=%20y&flag&q=2"
    );

    let seen: Vec<String> = up.seen().into_iter().map(|s| s.path_and_query).collect();
    assert_eq!(
        seen,
        [
            "/rest-service/items/a/b?q=1",
            "/rest-service/items/a/b/c?q=1&x=%20y&flag&q=2"
        ]
    );
}

#[tokio::test]
async fn single_segment_parameters_are_substituted() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, &routes())).await;

    let got = get(&gw, &pki, "/item/42?expand=true").await;
    assert_eq!(got.body, "upstream:/rest-service/item/42?expand=true");

    let got = get(&gw, &pki, "/orders/o-7/lines/3").await;
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.body, "upstream:/o/o-7/l/3");

    // `{line}` is exactly one segment: a deeper path has no route.
    let got = get(&gw, &pki, "/orders/o-7/lines/3/extra").await;
    assert_eq!(got.status, 403, "{got:?}");
    assert_eq!(up.seen().len(), 2);
}

#[tokio::test]
async fn specific_beats_greedy_and_explicit_method_beats_any() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, &routes())).await;

    // Literal segment, explicit method.
    assert_eq!(
        send(&gw, &pki, "GET", "/items/special").await.body,
        "upstream:/special/get"
    );
    // Literal segment, other methods fall to its ANY (not to the greedy route).
    assert_eq!(
        send(&gw, &pki, "POST", "/items/special").await.body,
        "upstream:/special/any"
    );
    assert_eq!(
        send(&gw, &pki, "DELETE", "/items/special").await.body,
        "upstream:/special/any"
    );
    // No literal resource: the greedy route takes any method.
    let got = send(&gw, &pki, "POST", "/items/7").await;
    assert_eq!(got.body, "upstream:/rest-service/items/7");
    let methods: Vec<String> = up.seen().iter().map(|s| s.method.to_string()).collect();
    assert_eq!(methods, ["GET", "POST", "DELETE", "POST"]);
}

#[tokio::test]
async fn a_resource_without_the_method_is_403_never_its_greedy_sibling() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, &routes())).await;
    assert_eq!(
        send(&gw, &pki, "GET", "/items/readonly").await.body,
        "upstream:/readonly"
    );
    for method in ["POST", "PUT", "DELETE"] {
        let got = send(&gw, &pki, method, "/items/readonly").await;
        assert_eq!(got.status, 403, "{method}: {got:?}");
        assert_eq!(got.body, gateway_body("Missing Authentication Token"));
        assert_eq!(
            got.headers.get("x-amzn-errortype").unwrap(),
            "MissingAuthenticationTokenException"
        );
    }
    let got = send(&gw, &pki, "POST", "/item/42").await;
    assert_eq!(got.status, 403, "{got:?}");
    assert_eq!(up.seen().len(), 1, "only the GET reached the upstream");
}

#[tokio::test]
async fn two_variable_path_parts_at_one_level_are_refused_as_aws_words_it() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let routes = [
        route("GET", "/items/{id}", &format!("{BACKEND}/i/{{id}}")),
        route("ANY", "/items/{proxy+}", &format!("{BACKEND}/p/{{proxy}}")),
    ]
    .concat();
    let err = Gateway::try_start(&simple_config(&pki, up.addr, &routes))
        .await
        .err()
        .expect("sibling variable path parts were accepted");
    assert!(
        err.contains(
            "A sibling ({id}) of this resource already has a variable path part -- only one is allowed"
        ) && err.contains("api.inv.routes[1]"),
        "{err}"
    );
}

#[tokio::test]
async fn greedy_needs_at_least_one_segment() {
    let pki = Pki::new("localhost");
    let up = Upstream::start().await;
    let gw = Gateway::start(&simple_config(&pki, up.addr, PROXY_ROUTE)).await;

    // `/{proxy+}` matches any non-empty path ...
    let got = get(&gw, &pki, "/x/y?z=1").await;
    assert_eq!(got.body, "upstream:/x/y?z=1");
    // ... but not `/` itself.
    let got = get(&gw, &pki, "/").await;
    assert_eq!(got.status, 403, "{got:?}");
    assert_eq!(got.body, gateway_body("Missing Authentication Token"));
    assert_eq!(up.seen().len(), 1);

    // `/items/{proxy+}` does not match `/items`.
    let up2 = Upstream::start().await;
    let gw2 = Gateway::start(&simple_config(&pki, up2.addr, &routes())).await;
    let got = get(&gw2, &pki, "/items").await;
    assert_eq!(got.status, 403, "{got:?}");
    assert!(up2.seen().is_empty());
}
