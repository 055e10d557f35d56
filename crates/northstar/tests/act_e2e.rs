//! Issue 6, "Must show": triggers end to end and crash safety of `deliver`, run as a user would:
//! the real `northstar` binary on a store in a temp dir, small hand-made CSV fixtures, a config
//! written by each test, and a real HTTP/1.1 receiver on 127.0.0.1 that records every request.
//!
//! The fixtures (`tests/fixtures/act/`), as of 2024-03-31. The engagement window is the 30 days
//! 2024-03-02..=2024-03-31, the previous window 2024-01-31..=2024-03-01. The test config scores
//! health on one measure, `nps` from the customers file, bad 0 and good 10, so health = 10 × nps:
//!
//! | customer | nps | health, tier | events window / previous | usage_trend           | segment  |
//! |----------|-----|--------------|--------------------------|-----------------------|----------|
//! | acme     | 9   | 90, green    | 2 / 1                    | (2 − 1) / 1 = 1       | champion |
//! | beta     | 6   | 60, yellow   | 2 / 1                    | 1                     | stable   |
//! | gamma    | 2   | 20, red      | 1 / 1                    | 0                     | at_risk  |
//! | delta    | 9   | 90, green    | 1 / 4                    | (1 − 4) / 4 = −0.75   | at_risk  |
//!
//! (gamma's "window" count is its 03-20 event; its 02-10 event is in the previous window.)
//! Segments: `at_risk` when `tier == 'red' || usage_trend <= -0.5`, then `champion` when
//! `tier == 'green'`, then `stable`. So gamma (red) and delta (usage collapsed) enter at_risk
//! and get one task each; acme is a champion with a `limit_hit` on 2024-03-30, so the upsell
//! webhook fires for acme only (beta's `limit_hit` is not a champion's).

use hmac::{Hmac, KeyInit, Mac};
use northstar_store::{ActionStatus, SqliteStore, Store};
use serde_json::Value;
use sha2::Sha256;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The signing secret; no command may ever print it or store it.
const SECRET: &str = "nst-e2e-secret-7f1c9a0b";
/// The environment variable the test configs name.
const SECRET_ENV: &str = "NS_TEST_SECRET";
/// The as-of date of every snapshot here.
const AS_OF: &str = "2024-03-31";
/// How long to wait for anything asynchronous (generous: a loaded 2-core machine).
const DEADLINE: Duration = Duration::from_secs(20);

// ------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 receiver.

/// One request the receiver read completely.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    /// Header names lower-cased, in arrival order.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    received: Instant,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    fn key(&self) -> String {
        self.header("x-northstar-idempotency-key")
            .unwrap_or_default()
            .to_string()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

/// How the receiver answers.
#[derive(Clone, Default)]
struct Script {
    /// The status of the n-th request (0-based); the last one repeats; empty means 200.
    statuses: Vec<u16>,
    /// Sleep this long after reading each request, before answering.
    delay: Duration,
    /// Hold the n-th request (1-based) unanswered until [`Receiver::release`].
    hold_at: Option<usize>,
}

struct Shared {
    requests: Mutex<Vec<Request>>,
    stop: AtomicBool,
    released: AtomicBool,
}

/// An HTTP receiver on 127.0.0.1 (a port the OS picks), serving one connection at a time and
/// closing each after its response (`Connection: close`).
struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    fn start(script: Script) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            released: AtomicBool::new(false),
        });
        let state = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            while !state.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => serve(stream, &state, &script),
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Receiver {
            addr,
            shared,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/hooks/upsell", self.addr)
    }

    fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.shared.requests.lock().unwrap().len()
    }

    /// Lets a held request be answered (and every later one).
    fn release(&self) {
        self.shared.released.store(true, Ordering::SeqCst);
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.release();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request from the connection, records it, and answers it by the script.
fn serve(stream: TcpStream, state: &Shared, script: &Script) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(mut request) = read_request(&stream) else {
        return; // the client went away mid-request (a killed deliver): nothing was received
    };
    request.received = Instant::now();
    let number = {
        let mut requests = state.requests.lock().unwrap();
        requests.push(request);
        requests.len()
    };
    let status = match script.statuses.len() {
        0 => 200,
        n => script.statuses[(number - 1).min(n - 1)],
    };
    std::thread::sleep(script.delay);
    if script.hold_at == Some(number) {
        while !state.released.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let reason = if status == 200 { "OK" } else { "Error" };
    let response =
        format!("HTTP/1.1 {status} {reason}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    let mut writer = &stream;
    let _ = writer.write_all(response.as_bytes());
    let _ = writer.flush();
}

/// The request line, the headers, and a body of `Content-Length` bytes; `None` on a broken or
/// incomplete request.
fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
        received: Instant::now(),
    })
}

// ------------------------------------------------------------------------------------------
// Running northstar.

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/act")
        .join(name)
}

/// `northstar ARGS --db DB` (`config` takes no store), run in `dir`, with the secret in the
/// environment only when asked.
fn command(dir: &Path, args: &[&str], with_secret: bool) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_northstar"));
    cmd.current_dir(dir)
        .args(args)
        .env_remove("NORTHSTAR_DB")
        .env_remove(SECRET_ENV);
    if args.first() != Some(&"config") {
        cmd.arg("--db").arg(dir.join("ns.db"));
    }
    if with_secret {
        cmd.env(SECRET_ENV, SECRET);
    }
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs to the end; asserts success; returns stdout + stderr (checked for the secret).
fn ok(dir: &Path, args: &[&str], with_secret: bool) -> (String, String) {
    let out: Output = command(dir, args, with_secret).output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "northstar {args:?} failed: {}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    assert_no_secret(&format!("northstar {args:?}"), &stdout);
    assert_no_secret(&format!("northstar {args:?}"), &stderr);
    (stdout, stderr)
}

fn json_of(dir: &Path, args: &[&str]) -> Value {
    let (stdout, _) = ok(dir, args, false);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

/// `northstar deliver ARGS` in the background, its output going to files in `dir`.
fn spawn_deliver(dir: &Path, name: &str, args: &[&str]) -> Child {
    let stdout = std::fs::File::create(dir.join(format!("{name}.out"))).unwrap();
    let stderr = std::fs::File::create(dir.join(format!("{name}.err"))).unwrap();
    let mut all = vec!["deliver"];
    all.extend_from_slice(args);
    command(dir, &all, true)
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr))
        .spawn()
        .unwrap()
}

/// SIGKILLs a background deliver and returns its stdout + stderr.
fn kill(dir: &Path, name: &str, mut child: Child) -> (String, String) {
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let read = |ext: &str| std::fs::read_to_string(dir.join(format!("{name}.{ext}"))).unwrap();
    let (stdout, stderr) = (read("out"), read("err"));
    assert_no_secret(name, &stdout);
    assert_no_secret(name, &stderr);
    (stdout, stderr)
}

fn assert_no_secret(what: &str, output: &str) {
    assert!(
        !output.contains(SECRET),
        "{what} printed the signing secret:\n{output}"
    );
}

/// Polls `done` every 10 ms until it holds; panics with `what` after [`DEADLINE`].
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn store(dir: &Path) -> SqliteStore {
    SqliteStore::open(&dir.join("ns.db")).unwrap()
}

/// Every action's status by idempotency key.
fn statuses(dir: &Path) -> BTreeMap<String, ActionStatus> {
    store(dir)
        .actions(None)
        .unwrap()
        .into_iter()
        .map(|a| (a.idempotency_key, a.status))
        .collect()
}

/// The test config: health = 10 × nps, the three segments of the module doc, a task on
/// entering at_risk, and the upsell webhook on a champion's `limit_hit`.
fn config(url: &str, max_attempts: u32) -> String {
    format!(
        r#"[health]
green = 76
yellow = 51
[[health.measure]]
field = "nps"
weight = 1
bad = 0
good = 10

[[segment]]
name = "at_risk"
when = "tier == 'red' || usage_trend <= -0.5"
[[segment]]
name = "champion"
when = "tier == 'green'"
[[segment]]
name = "stable"
when = "true"

[[trigger]]
name = "cs-task-on-risk"
on = "segment_entered"
segment = "at_risk"
action = "task"
[[trigger]]
name = "upsell-on-limit"
on = "event"
event = "limit_hit"
when = "segment == 'champion'"
action = "webhook"
url = "{url}"
secret_env = "{SECRET_ENV}"
max_attempts = {max_attempts}
"#
    )
}

/// Imports the fixtures, writes the config and runs the first refresh; returns its stdout.
fn setup(dir: &Path, url: &str, max_attempts: u32) -> String {
    let events = fixture("events.csv");
    let customers = fixture("customers.csv");
    ok(dir, &["import", "events", events.to_str().unwrap()], false);
    ok(
        dir,
        &["import", "customers", customers.to_str().unwrap()],
        false,
    );
    std::fs::write(dir.join("ns.toml"), config(url, max_attempts)).unwrap();
    refresh(dir)
}

fn refresh(dir: &Path) -> String {
    ok(
        dir,
        &["refresh", "--as-of", AS_OF, "--config", "ns.toml"],
        true, // as a user would run it, the secret exported: it must not leak
    )
    .0
}

const ACME_KEY: &str = "upsell-on-limit:acme:2024-03-31";

// ------------------------------------------------------------------------------------------
// 1. Entering At-Risk creates exactly one task.

#[test]
fn entering_at_risk_creates_exactly_one_open_task_per_customer_and_none_for_others() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let out = setup(dir, "http://127.0.0.1:9/hooks/upsell", 8);
    // 4 customers; at_risk gamma + delta, champion acme, stable beta; 3 actions: 2 tasks and
    // acme's webhook.
    assert!(out.contains("4 customers"), "{out}");
    assert!(
        out.contains("segments: at_risk 2, champion 1, stable 1"),
        "{out}"
    );
    assert!(out.contains("actions: 3 new (2 tasks)"), "{out}");

    let tasks = json_of(dir, &["tasks", "--json"]);
    let tasks = tasks["tasks"].as_array().unwrap();
    let mut per_customer: BTreeMap<&str, usize> = BTreeMap::new();
    for t in tasks {
        *per_customer
            .entry(t["customer_id"].as_str().unwrap())
            .or_default() += 1;
        assert_eq!(t["trigger"], "cs-task-on-risk");
        assert_eq!(t["status"], "open");
        assert_eq!(t["as_of"], AS_OF);
    }
    assert_eq!(
        per_customer,
        BTreeMap::from([("delta", 1), ("gamma", 1)]),
        "exactly one task each for gamma (red) and delta (usage collapsed), none for acme or beta"
    );

    // Why each is at risk: gamma health 10 × 2 = 20 (red); delta health 90 (green) but usage
    // trend (1 − 4) / 4 = −0.75.
    let gamma = json_of(dir, &["customer", "gamma", "--json"]);
    assert_eq!(gamma["segment"], "at_risk");
    assert_eq!(gamma["tier"], "red");
    assert!((gamma["health"].as_f64().unwrap() - 20.0).abs() < 1e-9);
    assert_eq!(gamma["segment_before"], Value::Null);
    let delta = json_of(dir, &["customer", "delta", "--json"]);
    assert_eq!(delta["segment"], "at_risk");
    assert_eq!(delta["tier"], "green");
    assert!((delta["fields"]["usage_trend"].as_f64().unwrap() + 0.75).abs() < 1e-12);
    assert_eq!(delta["tasks"].as_array().unwrap().len(), 1);
    for id in ["acme", "beta"] {
        let c = json_of(dir, &["customer", id, "--json"]);
        assert_eq!(c["tasks"], Value::Array(vec![]), "{id} has no task");
    }
}

// ------------------------------------------------------------------------------------------
// 2. A limit_hit by a Champion posts exactly one signed webhook.

/// The top-level keys of a webhook body, in the order the issue fixes.
const BODY_KEYS: [&str; 11] = [
    "idempotency_key",
    "trigger",
    "customer_id",
    "as_of",
    "segment",
    "segment_before",
    "health",
    "tier",
    "clv",
    "p_alive",
    "event",
];

fn hmac_sha256_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[test]
fn limit_hit_by_a_champion_posts_exactly_one_webhook_signed_with_the_env_secret() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let receiver = Receiver::start(Script::default());
    setup(dir, &receiver.url(), 8);

    let (stdout, _) = ok(dir, &["deliver", "--once"], true);
    assert!(
        stdout.contains("delivered 1, failed 0 (to retry), dead 0; 0 pending"),
        "{stdout}"
    );

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1, "exactly one POST: {requests:?}");
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/hooks/upsell");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.key(), ACME_KEY);

    // The signature, checked independently: HMAC-SHA256 of the raw body with the secret.
    let expected = format!("sha256={}", hmac_sha256_hex(SECRET, &r.body));
    assert_eq!(r.header("x-northstar-signature"), Some(expected.as_str()));
    assert_ne!(
        expected,
        format!("sha256={}", hmac_sha256_hex("another secret", &r.body))
    );

    // The body: the issue's keys in the issue's order, then the values.
    let raw = text(&r.body);
    let positions: Vec<usize> = BODY_KEYS
        .iter()
        .map(|k| {
            raw.find(&format!("\"{k}\":"))
                .unwrap_or_else(|| panic!("no {k} in {raw}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "keys out of order: {raw}"
    );
    let body = r.json();
    assert_eq!(body.as_object().unwrap().len(), BODY_KEYS.len(), "{raw}");
    assert_eq!(body["idempotency_key"], ACME_KEY);
    assert_eq!(body["trigger"], "upsell-on-limit");
    assert_eq!(body["customer_id"], "acme");
    assert_eq!(body["as_of"], AS_OF);
    assert_eq!(body["segment"], "champion");
    assert_eq!(body["segment_before"], Value::Null); // acme's first snapshot
    assert!((body["health"].as_f64().unwrap() - 90.0).abs() < 1e-9); // 10 × nps 9
    assert_eq!(body["tier"], "green");
    assert_eq!(body["clv"], Value::Null); // no transactions imported
    assert_eq!(body["p_alive"], Value::Null);
    let event = &body["event"];
    assert_eq!(event["name"], "limit_hit");
    assert_eq!(event["timestamp"], "2024-03-30T09:00:00.000Z");
    assert_eq!(event["user_id"], "a1");
    assert_eq!(event["feature"], "exports");
    assert_eq!(event["data"]["session_id"], "s3");

    // The secret appears in no command output (`ok` checks each) and not in the store.
    let (tasks, _) = ok(dir, &["tasks", "--json"], true);
    let (customer, _) = ok(dir, &["customer", "acme", "--json"], true);
    ok(dir, &["customer", "acme"], true);
    ok(dir, &["tasks"], true);
    assert!(tasks.contains("cs-task-on-risk") && customer.contains(ACME_KEY));
    for file in ["ns.db", "ns.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.join(file)) {
            assert!(
                !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                "{file} holds the secret"
            );
        }
    }
    let acme = json_of(dir, &["customer", "acme", "--json"]);
    let actions = acme["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0]["status"], "delivered");
    assert_eq!(actions[0]["attempts"], 1);
}

#[test]
fn deliver_without_the_secret_in_the_environment_sends_nothing_and_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let receiver = Receiver::start(Script::default());
    setup(dir, &receiver.url(), 8);
    let (stdout, stderr) = ok(dir, &["deliver", "--once"], false);
    assert_eq!(receiver.count(), 0, "nothing is sent unsigned");
    assert!(stderr.contains(SECRET_ENV), "{stderr}");
    assert!(stdout.contains("failed 1 (to retry)"), "{stdout}");
    assert_eq!(statuses(dir)[ACME_KEY], ActionStatus::Pending);
}

// ------------------------------------------------------------------------------------------
// 3. 500, 500, then 200: delivered, with backoff, under one idempotency key.

#[test]
fn receiver_failing_twice_then_accepting_gets_the_action_delivered_with_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let receiver = Receiver::start(Script {
        statuses: vec![500, 500, 200],
        ..Script::default()
    });
    setup(dir, &receiver.url(), 8);

    let child = spawn_deliver(dir, "deliver", &["--retry-base-ms", "50"]);
    wait_until("3 requests and the action delivered", || {
        receiver.count() >= 3 && statuses(dir)[ACME_KEY] == ActionStatus::Delivered
    });
    let (_, stderr) = kill(dir, "deliver", child);

    let requests = receiver.requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
    for r in &requests {
        assert_eq!(r.key(), ACME_KEY);
        assert_eq!(r.json()["idempotency_key"], ACME_KEY);
        assert_eq!(r.body, requests[0].body, "every retry sends the same bytes");
    }
    // Backoff: retry n waits at least half of 50 ms × 2^(n−1) after the failed answer.
    assert!(requests[1].received - requests[0].received >= Duration::from_millis(25));
    assert!(requests[2].received - requests[1].received >= Duration::from_millis(50));
    assert_eq!(stderr.matches("failed: HTTP 500").count(), 2, "{stderr}");

    let acme = json_of(dir, &["customer", "acme", "--json"]);
    let action = &acme["actions"][0];
    assert_eq!(action["idempotency_key"], ACME_KEY);
    assert_eq!(action["status"], "delivered");
    assert_eq!(action["attempts"], 3, "two failures and the success");
    assert_eq!(action["last_error"], Value::Null);
}

// ------------------------------------------------------------------------------------------
// 4. A second refresh for the same date sends nothing new.

#[test]
fn second_refresh_of_the_same_date_sends_nothing_new_and_creates_no_task() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let receiver = Receiver::start(Script::default());
    setup(dir, &receiver.url(), 8);
    ok(dir, &["deliver", "--once"], true);
    assert_eq!(receiver.count(), 1);
    let tasks_before = json_of(dir, &["tasks", "--json"]);

    let again = refresh(dir);
    assert!(
        again.contains("actions: 0 new (0 tasks), 3 already recorded"),
        "{again}"
    );
    let (stdout, _) = ok(dir, &["deliver", "--once"], true);
    assert!(
        stdout.contains("delivered 0, failed 0 (to retry), dead 0; 0 pending"),
        "{stdout}"
    );
    assert_eq!(receiver.count(), 1, "no second POST");
    assert_eq!(json_of(dir, &["tasks", "--json"]), tasks_before);
    assert_eq!(statuses(dir).len(), 3);

    // The next day: gamma is still red and delta still collapsed ((1 − 4) / 4 over
    // 03-03..=04-01 against 02-02..=03-02), so nobody *enters* at_risk, and acme's limit_hit
    // (03-30) is before the previous snapshot's date: nothing new either.
    let next = ok(
        dir,
        &["refresh", "--as-of", "2024-04-01", "--config", "ns.toml"],
        false,
    )
    .0;
    assert!(next.contains("previous snapshot: 2024-03-31"), "{next}");
    assert!(
        next.contains("actions: 0 new (0 tasks), 0 already recorded"),
        "{next}"
    );
    ok(dir, &["deliver", "--once"], true);
    assert_eq!(receiver.count(), 1);
    assert_eq!(json_of(dir, &["tasks", "--json"]), tasks_before);
}

// ------------------------------------------------------------------------------------------
// 5. Dead after max_attempts.

#[test]
fn webhook_failing_max_attempts_times_is_dead_and_listed_by_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let receiver = Receiver::start(Script {
        statuses: vec![500],
        ..Script::default()
    });
    setup(dir, &receiver.url(), 2);

    let child = spawn_deliver(dir, "deliver", &["--retry-base-ms", "20"]);
    wait_until("the action to be dead", || {
        statuses(dir)[ACME_KEY] == ActionStatus::Dead
    });
    // Nothing is due any more; give a stray retry a moment to show up before counting.
    std::thread::sleep(Duration::from_millis(200));
    let (_, stderr) = kill(dir, "deliver", child);
    assert_eq!(
        receiver.count(),
        2,
        "max_attempts = 2 attempts, then no more"
    );
    assert!(
        stderr.contains(&format!("{ACME_KEY} after 2 attempts: HTTP 500")),
        "{stderr}"
    );

    let tasks = json_of(dir, &["tasks", "--json"]);
    let dead = tasks["dead_webhooks"].as_array().unwrap();
    assert_eq!(dead.len(), 1, "{tasks}");
    assert_eq!(dead[0]["idempotency_key"], ACME_KEY);
    assert_eq!(dead[0]["customer_id"], "acme");
    assert_eq!(dead[0]["trigger"], "upsell-on-limit");
    assert_eq!(dead[0]["as_of"], AS_OF);
    assert_eq!(dead[0]["attempts"], 2);
    assert_eq!(dead[0]["last_error"], "HTTP 500");
    let (human, _) = ok(dir, &["tasks"], false);
    assert!(human.contains("dead webhooks"), "{human}");
    assert!(human.contains(ACME_KEY), "{human}");

    // A dead action is not retried by a later deliver.
    ok(dir, &["deliver", "--once"], true);
    assert_eq!(receiver.count(), 2);
}

// ------------------------------------------------------------------------------------------
// 6. kill -9 during deliver, then restart: every action delivered.

#[test]
fn kill_9_during_deliver_then_restart_delivers_every_action_with_at_most_the_one_in_flight_twice() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // The 15th request is held unanswered, so the kill lands while it is in flight: received
    // by the receiver, not yet recorded as delivered by northstar.
    let receiver = Receiver::start(Script {
        statuses: vec![200],
        delay: Duration::from_millis(30),
        hold_at: Some(15),
    });
    let mut events = String::from("customer_id,user_id,timestamp,event,feature,session_id\n");
    for i in 0..40 {
        events.push_str(&format!(
            "c{i:02},u{i:02},2024-03-30T12:00:00Z,page_view,reports,\n"
        ));
    }
    std::fs::write(dir.join("events.csv"), events).unwrap();
    ok(dir, &["import", "events", "events.csv"], false);
    // Everyone enters the one segment on their first snapshot: 40 webhook actions.
    std::fs::write(
        dir.join("ns.toml"),
        format!(
            r#"[[segment]]
name = "everyone"
when = "true"
[[trigger]]
name = "welcome"
on = "segment_entered"
segment = "everyone"
action = "webhook"
url = "{}"
secret_env = "{SECRET_ENV}"
"#,
            receiver.url()
        ),
    )
    .unwrap();
    let out = refresh(dir);
    assert!(out.contains("actions: 40 new (0 tasks)"), "{out}");
    let keys: BTreeSet<String> = (0..40)
        .map(|i| format!("welcome:c{i:02}:{AS_OF}"))
        .collect();
    assert_eq!(statuses(dir).keys().cloned().collect::<BTreeSet<_>>(), keys);

    let child = spawn_deliver(dir, "deliver-1", &["--timeout-secs", "120"]);
    wait_until("the 15th request", || receiver.count() >= 15);
    kill(dir, "deliver-1", child);
    let at_kill = receiver.requests();
    assert_eq!(at_kill.len(), 15, "some but not all were received");
    let in_flight = at_kill[14].key();
    let delivered_at_kill = statuses(dir)
        .values()
        .filter(|s| **s == ActionStatus::Delivered)
        .count();
    assert_eq!(delivered_at_kill, 14, "the 14 answered ones are recorded");
    receiver.release();

    for run in 0.. {
        let pending = statuses(dir)
            .values()
            .filter(|s| **s == ActionStatus::Pending)
            .count();
        if pending == 0 {
            break;
        }
        assert!(run < 5, "{pending} still pending after {run} restarts");
        ok(dir, &["deliver", "--once"], true);
    }

    let requests = receiver.requests();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for r in &requests {
        *seen.entry(r.key()).or_default() += 1;
        assert_eq!(r.json()["idempotency_key"].as_str().unwrap(), r.key());
    }
    assert_eq!(
        seen.keys().cloned().collect::<BTreeSet<_>>(),
        keys,
        "every key received"
    );
    let twice: Vec<&String> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        twice,
        vec![&in_flight],
        "only the request in flight at the kill is sent again"
    );
    assert_eq!(requests.len(), 41);
    assert!(statuses(dir)
        .values()
        .all(|s| *s == ActionStatus::Delivered));
}

// ------------------------------------------------------------------------------------------
// 7. Hostile config.

/// A valid config whose line `line` (1-based) is replaced by `bad`.
fn config_with(line: usize, bad: &str) -> String {
    let good = config("http://127.0.0.1:9/hooks/upsell", 8);
    let mut lines: Vec<&str> = good.lines().collect();
    lines[line - 1] = bad;
    lines.join("\n") + "\n"
}

#[test]
fn hostile_config_is_rejected_naming_key_and_line_and_leaves_the_store_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let events = fixture("events.csv");
    ok(dir, &["import", "events", events.to_str().unwrap()], false);
    let db_before = std::fs::read(dir.join("ns.db")).unwrap();

    // (file, line replaced, new text, fragments stderr must hold). Line numbers count in
    // `config()`: line 2 `green = 76`, 6 `weight = 1`, 7 `bad = 0`, 12 the first segment's
    // `when`, 31 the webhook trigger's `url`.
    let cases: [(&str, usize, &str, &[&str]); 5] = [
        (
            "unknown.toml",
            7,
            "badd = 0",
            &[":7:", "unknown field", "badd"],
        ),
        (
            "unparsable.toml",
            12,
            "when = \"tier == 'red' || (usage_trend <= \"",
            &[":12:", "segment[0].when", "does not parse"],
        ),
        (
            "weight.toml",
            6,
            "weight = -3",
            &[":6:", "health.measure[0].weight", "-3", ">= 0"],
        ),
        (
            "green.toml",
            2,
            "greenish = 76",
            &[":2:", "unknown field", "greenish"],
        ),
        (
            "url.toml",
            31,
            "url = \"ftp://127.0.0.1/hooks\"",
            &[":31:", "trigger[1].url", "ftp://127.0.0.1/hooks", "http"],
        ),
    ];
    for (file, line, bad, fragments) in cases {
        std::fs::write(dir.join(file), config_with(line, bad)).unwrap();
        for args in [
            vec!["refresh", "--as-of", AS_OF, "--config", file],
            vec!["config", "--check", file],
        ] {
            let out = command(dir, &args, false).output().unwrap();
            let stderr = text(&out.stderr);
            assert!(!out.status.success(), "{args:?} accepted {bad:?}");
            assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
            assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
            assert!(stderr.contains(file), "{args:?} names the file: {stderr}");
            for fragment in fragments {
                assert!(
                    stderr.contains(fragment),
                    "{args:?} stderr lacks {fragment:?}: {stderr}"
                );
            }
        }
    }

    assert_eq!(
        std::fs::read(dir.join("ns.db")).unwrap(),
        db_before,
        "the store file is untouched"
    );
    let store = store(dir);
    assert!(
        store.latest_snapshot().unwrap().is_none(),
        "no snapshot written"
    );
    assert!(store.actions(None).unwrap().is_empty());
    assert_eq!(store.dataset_counts().unwrap().events, 13);
}
