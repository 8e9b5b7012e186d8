//! 100 hot reloads (alternating two valid configurations, with broken ones in between) under
//! continuous keep-alive and new-connection load: no request fails, every answer comes from a
//! configuration that was active while it was in flight, and broken reloads change nothing.

use crate::support::*;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Which valid configuration a state is: `b'a'` or `b'b'`.
type Which = u8;

/// The reload history: `phase` is 2k while state k is stable and 2k+1 while the reload from
/// state k to state k+1 is in progress; `states[k]` is the configuration of state k.
struct History {
    phase: AtomicU64,
    states: Mutex<Vec<Which>>,
}

impl History {
    /// The configurations that may have served a request sent at phase `before` and answered
    /// at phase `after`.
    fn allowed(&self, before: u64, after: u64) -> Vec<Which> {
        let states = self.states.lock().unwrap();
        let first = (before / 2) as usize;
        let last = after.div_ceil(2) as usize;
        states[first..=last.min(states.len() - 1)].to_vec()
    }
}

/// One answered request: phases around it and the upstream that answered.
#[derive(Debug)]
struct Outcome {
    before: u64,
    after: u64,
    result: Result<(u16, String), String>,
    keep_alive: bool,
}

fn which_of(body: &str) -> Option<Which> {
    match body {
        "a:/rest-service/inventory" => Some(b'a'),
        "b:/rest-service/inventory" => Some(b'b'),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_reloads_under_load_drop_nothing() {
    let pki = Pki::new("localhost");
    let a = Upstream::start_named("a").await;
    let b = Upstream::start_named("b").await;
    let config_a = simple_config(&pki, a.addr, INVENTORY_ROUTE);
    let config_b = simple_config(&pki, b.addr, INVENTORY_ROUTE);
    let missing_truststore = config_a.replace(
        &pki.path("truststore.pem").display().to_string(),
        &pki.path("no-such-truststore.pem").display().to_string(),
    );
    assert_ne!(missing_truststore, config_a);
    let syntax_error = config_b.replacen("[[domain]]", "[[domain]", 1);
    let broken = [missing_truststore, syntax_error];

    let run = Gateway::start(&config_a).await;
    let history = Arc::new(History {
        phase: AtomicU64::new(0),
        states: Mutex::new(vec![b'a']),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();

    // Sanity before the load starts.
    let got = get_at(run.addr(), &pki, "/inventory").await.unwrap();
    assert_eq!(got.body, "a:/rest-service/inventory", "{got:?}");

    let mut load = Vec::new();
    for _ in 0..4 {
        let (h, s, o, addr) = (history.clone(), stop.clone(), outcomes.clone(), run.addr());
        let mut conn = KeepAlive::open(addr, &pki, None).await;
        load.push(tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                let before = h.phase.load(Ordering::SeqCst);
                let result = conn
                    .get("/inventory")
                    .await
                    .map(|g| (g.status.as_u16(), g.body));
                let after = h.phase.load(Ordering::SeqCst);
                let failed = result.is_err();
                o.lock().unwrap().push(Outcome {
                    before,
                    after,
                    result,
                    keep_alive: true,
                });
                if failed {
                    break;
                }
            }
        }));
    }
    for _ in 0..2 {
        let (h, s, o, addr) = (history.clone(), stop.clone(), outcomes.clone(), run.addr());
        let root = pki.root.pem.clone();
        let client = pki.client.clone();
        load.push(tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                let before = h.phase.load(Ordering::SeqCst);
                let result = request(
                    addr,
                    "localhost",
                    &root,
                    Some(&client),
                    get_req("/inventory"),
                )
                .await
                .map(|g| (g.status.as_u16(), g.body));
                let after = h.phase.load(Ordering::SeqCst);
                o.lock().unwrap().push(Outcome {
                    before,
                    after,
                    result,
                    keep_alive: false,
                });
            }
        }));
    }

    let started = Instant::now();
    let mut generation = run.gw.state().load().generation;
    let mut current = b'a';
    let mut broken_reloads = 0;
    for i in 1..=100u32 {
        let (text, next) = if i % 10 == 5 {
            (broken[(i / 10) as usize % 2].as_str(), None)
        } else if current == b'a' {
            (config_b.as_str(), Some(b'b'))
        } else {
            (config_a.as_str(), Some(b'a'))
        };
        std::fs::write(&run.config, text).unwrap();
        // The state this reload leads to: the other configuration, or the same one if broken.
        history.states.lock().unwrap().push(next.unwrap_or(current));
        history.phase.fetch_add(1, Ordering::SeqCst);
        let result = run.reloader.reload().await;
        history.phase.fetch_add(1, Ordering::SeqCst);
        match next {
            Some(n) => {
                let g = result.unwrap_or_else(|e| panic!("reload {i} refused a valid config: {e}"));
                assert_eq!(g, generation + 1, "reload {i}");
                generation = g;
                current = n;
            }
            None => {
                let e = result.expect_err("a broken configuration must be refused");
                assert!(
                    e.contains("truststore") || e.contains("TOML"),
                    "reload {i}: the error names the problem: {e}"
                );
                assert!(
                    e.contains(&run.config.display().to_string()),
                    "reload {i}: the error names the file: {e}"
                );
                broken_reloads += 1;
            }
        }
        assert_eq!(
            run.gw.state().load().generation,
            generation,
            "reload {i}: the served generation"
        );
        // Let some requests through under this configuration.
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    let reload_time = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in load {
        tokio::time::timeout(STEP, t)
            .await
            .expect("a load task hung")
            .unwrap();
    }

    assert_eq!(broken_reloads, 10);
    let status = run.reloader.status();
    assert_eq!(status.reloads_ok, 90, "{status:?}");
    assert_eq!(status.reloads_failed, 10, "{status:?}");
    assert_eq!(status.generation, generation, "{status:?}");

    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    let failed: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| !matches!(&o.result, Ok((200, _))))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during reloads, e.g. {:?}",
        failed.len(),
        outcomes.len(),
        &failed[..failed.len().min(5)]
    );
    let mut inconsistent = Vec::new();
    let (mut from_a, mut from_b) = (0, 0);
    for o in outcomes.iter() {
        let Ok((_, body)) = &o.result else { continue };
        let Some(w) = which_of(body) else {
            inconsistent.push(format!("unexpected body {body:?}"));
            continue;
        };
        if w == b'a' {
            from_a += 1;
        } else {
            from_b += 1;
        }
        let allowed = history.allowed(o.before, o.after);
        if !allowed.contains(&w) {
            inconsistent.push(format!(
                "{} answered by {} between phases {} and {} (allowed {:?})",
                if o.keep_alive {
                    "keep-alive request"
                } else {
                    "new-connection request"
                },
                w as char,
                o.before,
                o.after,
                allowed.iter().map(|c| *c as char).collect::<String>()
            ));
        }
    }
    assert!(
        inconsistent.is_empty(),
        "{} answers came from a configuration not active while they were in flight: {:?}",
        inconsistent.len(),
        &inconsistent[..inconsistent.len().min(5)]
    );
    let keep_alive = outcomes.iter().filter(|o| o.keep_alive).count();
    assert!(
        keep_alive >= 100 && outcomes.len() - keep_alive >= 20,
        "too little load to mean anything: {keep_alive} keep-alive, {} new-connection requests",
        outcomes.len() - keep_alive
    );
    assert!(from_a > 0 && from_b > 0, "a: {from_a}, b: {from_b}");
    assert!(
        reload_time < Duration::from_secs(20),
        "100 reloads took {reload_time:?}"
    );
    // The final configuration is served.
    let got = get_at(run.addr(), &pki, "/inventory").await.unwrap();
    assert_eq!(which_of(&got.body), Some(current), "{got:?}");
}
