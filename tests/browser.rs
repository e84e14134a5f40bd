//! The HTML pages in a real browser: Debian's headless Chromium, driven over the DevTools protocol
//! on a pipe (no WebDriver, no network port). Each page is loaded from a file and must raise no
//! console error or uncaught exception, make no request that leaves the file, show a flame graph
//! with frames, and zoom when a frame is clicked. A screenshot of every page (and of two in the
//! dark scheme) is saved under `target/tmp/browser/` for people to look at, with each page's
//! load time in `timings.tsv`.
//!
//! Chromium is required (`.ci/run` installs it); set `MEMREPORT_SKIP_BROWSER=1` to skip these
//! tests on a machine without it. `MEMREPORT_CHROMIUM` names another binary.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{fixtures_dir, long_tail_capture, memreport};

const TIMEOUT: Duration = Duration::from_secs(60);

/// One headless Chromium, spoken to over `--remote-debugging-pipe` (fd 3 in, fd 4 out).
struct Browser {
    child: Child,
    input: ChildStdin,
    messages: Receiver<Value>,
    next_id: u64,
    /// Events received while waiting for something else, in order.
    events: Vec<Value>,
    _profile: TempDir,
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Browser {
    fn launch() -> Option<Browser> {
        if std::env::var_os("MEMREPORT_SKIP_BROWSER").is_some_and(|v| v == "1") {
            eprintln!("MEMREPORT_SKIP_BROWSER=1: browser tests skipped");
            return None;
        }
        let binary = std::env::var("MEMREPORT_CHROMIUM").unwrap_or_else(|_| "chromium".into());
        let profile = TempDir(out_dir().join(format!("profile-{}", std::process::id())));
        let _ = std::fs::remove_dir_all(&profile.0);
        std::fs::create_dir_all(&profile.0).unwrap();
        // The shell moves our pipes to the descriptors Chromium reads (3) and writes (4).
        let script = format!(
            "exec \"$0\" --headless --no-sandbox --disable-gpu --disable-background-networking \
             --disable-component-update --no-first-run --user-data-dir='{}' \
             --remote-debugging-pipe --hide-scrollbars --mute-audio \
             3<&0 4>&1 0</dev/null 1>/dev/null",
            profile.0.display()
        );
        let mut child = Command::new("sh")
            .args(["-c", &script, &binary])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh runs");
        let input = child.stdin.take().unwrap();
        let output = child.stdout.take().unwrap();
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(output);
            loop {
                let mut message = Vec::new();
                match reader.read_until(0, &mut message) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        message.pop();
                        if let Ok(v) = serde_json::from_slice::<Value>(&message) {
                            if tx.send(v).is_err() {
                                break;
                            }
                        }
                    }
                }
            }
        });
        let mut browser =
            Browser { child, input, messages, next_id: 0, events: Vec::new(), _profile: profile };
        // A browser that is not there fails here, with a message that says what to do.
        if browser.try_call(None, "Browser.getVersion", json!({})).is_none() {
            panic!(
                "could not start `{binary}` headless: install Debian's chromium \
                 (apt-get install chromium), name it with MEMREPORT_CHROMIUM, or set \
                 MEMREPORT_SKIP_BROWSER=1"
            );
        }
        Some(browser)
    }

    fn try_call(&mut self, session: Option<&str>, method: &str, params: Value) -> Option<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.input.write_all(&bytes).ok()?;
        self.input.flush().ok()?;
        loop {
            let m = self.messages.recv_timeout(TIMEOUT).ok()?;
            if m.get("id").and_then(Value::as_u64) == Some(id) {
                if let Some(e) = m.get("error") {
                    panic!("{method}: {e}");
                }
                return Some(m["result"].clone());
            }
            self.events.push(m);
        }
    }

    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.try_call(session, method, params)
            .unwrap_or_else(|| panic!("{method}: no answer from the browser"))
    }

    /// Waits for an event of a session.
    fn wait_for(&mut self, session: &str, method: &str) {
        let matches = |m: &Value| {
            m.get("method").and_then(Value::as_str) == Some(method)
                && m.get("sessionId").and_then(Value::as_str) == Some(session)
        };
        if self.events.iter().any(matches) {
            return;
        }
        loop {
            let m = self
                .messages
                .recv_timeout(TIMEOUT)
                .unwrap_or_else(|_| panic!("timed out waiting for {method}"));
            let found = matches(&m);
            self.events.push(m);
            if found {
                return;
            }
        }
    }

    /// Drains the messages already received.
    fn drain(&mut self) {
        while let Ok(m) = self.messages.try_recv() {
            self.events.push(m);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A page open in its own tab.
struct Page<'b> {
    browser: &'b mut Browser,
    session: String,
    url: String,
}

impl<'b> Page<'b> {
    fn open(browser: &'b mut Browser, file: &Path) -> Page<'b> {
        let target = browser.call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().unwrap().to_string();
        let attached = browser.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        let session = attached["sessionId"].as_str().unwrap().to_string();
        for domain in ["Page", "Runtime", "Log", "Network"] {
            browser.call(Some(&session), &format!("{domain}.enable"), json!({}));
        }
        browser.call(
            Some(&session),
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1366, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
        );
        // A script injected through a name in the capture would most likely call a dialog:
        // each is replaced, before any script of the page runs, by a console error that
        // `problems` reports (a real dialog would block the page instead).
        browser.call(
            Some(&session),
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": "for (const f of ['alert', 'confirm', 'prompt', 'print']) \
                   { window[f] = (...a) => console.error('script from the page data: ' + f + '(' + a + ')'); }"}),
        );
        let url = format!("file://{}", file.canonicalize().unwrap().display());
        browser.events.clear();
        browser.call(Some(&session), "Page.navigate", json!({"url": url}));
        browser.wait_for(&session, "Page.loadEventFired");
        Page { browser, session, url }
    }

    fn eval(&mut self, expression: &str) -> Value {
        let r = self.browser.call(
            Some(&self.session),
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expression}: {e}");
        }
        r["result"]["value"].clone()
    }

    fn click(&mut self, x: f64, y: f64) {
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.browser.call(
                Some(&self.session),
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }

    /// Console errors, uncaught exceptions and requests that leave the file, so far.
    fn problems(&mut self) -> Vec<String> {
        self.browser.drain();
        let mut out = Vec::new();
        for m in &self.browser.events {
            if m.get("sessionId").and_then(Value::as_str) != Some(self.session.as_str()) {
                continue;
            }
            let p = &m["params"];
            match m["method"].as_str().unwrap_or("") {
                "Runtime.exceptionThrown" => {
                    out.push(format!("exception: {}", p["exceptionDetails"]))
                }
                "Runtime.consoleAPICalled"
                    if matches!(p["type"].as_str(), Some("error" | "assert" | "warning")) =>
                {
                    out.push(format!("console {}: {}", p["type"], p["args"]))
                }
                "Log.entryAdded" if matches!(p["entry"]["level"].as_str(), Some("error")) => {
                    out.push(format!("log error: {}", p["entry"]))
                }
                "Page.javascriptDialogOpening" => out.push(format!("dialog: {p}")),
                "Network.requestWillBeSent" => {
                    let url = p["request"]["url"].as_str().unwrap_or("");
                    if url != self.url {
                        out.push(format!("request leaving the file: {url}"));
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// A PNG of the first element matching `selector`.
    fn screenshot_of(&mut self, selector: &str, path: &Path) {
        let rect = self.eval(&format!(
            "(() => {{ const r = document.querySelector('{selector}').getBoundingClientRect(); \
             return {{x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height}}; }})()"
        ));
        let mut clip = rect.clone();
        clip["scale"] = json!(1);
        let shot = self.browser.call(
            Some(&self.session),
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true, "clip": clip}),
        );
        std::fs::write(path, base64_decode(shot["data"].as_str().expect("screenshot data")))
            .unwrap();
    }

    /// A full-page PNG.
    fn screenshot(&mut self, path: &Path) {
        let metrics = self.browser.call(Some(&self.session), "Page.getLayoutMetrics", json!({}));
        let height = metrics["cssContentSize"]["height"].as_f64().unwrap_or(900.0).ceil();
        self.browser.call(
            Some(&self.session),
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1366, "height": height.min(16_000.0), "deviceScaleFactor": 1, "mobile": false}),
        );
        let shot = self.browser.call(
            Some(&self.session),
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        let png = base64_decode(shot["data"].as_str().expect("screenshot data"));
        assert!(png.starts_with(b"\x89PNG"), "a PNG came back");
        std::fs::write(path, png).unwrap();
    }

    fn close(self) {
        let target = self.browser.call(Some(&self.session), "Target.getTargetInfo", json!({}));
        let id = target["targetInfo"]["targetId"].clone();
        self.browser.call(None, "Target.closeTarget", json!({"targetId": id}));
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let bytes: Vec<u8> = text.bytes().filter(|&c| c != b'=' && !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c) << (18 - 6 * i);
        }
        let take = chunk.len() - 1;
        out.extend_from_slice(&n.to_be_bytes()[1..1 + take]);
    }
    out
}

/// The pages tested: a report for captures of every kind, and flame graph pages in every mode.
fn pages(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut pages = Vec::new();
    let fixtures = fixtures_dir();
    for fixture in [
        "v13-service",
        "v13-basic",
        "v13-threads",
        "v13-killed",
        "v13-native",
        "v13-aggregated",
        "v13-synthetic",
        "v08-basic",
        "leak-dict-cache",
        "leak-thread",
        "rss-untracked",
        "real-flask-threads",
        "real-django-runserver",
        "hostile-names",
        "native-leakyext",
    ] {
        let out = dir.join(format!("{fixture}-report.html"));
        let capture = fixtures.join(fixture).join("capture.bin");
        // Native frames are named from the fixture's own symbols, or not at all: never from
        // this machine's binaries.
        let symbols = fixtures.join(fixture).join("symbols");
        let symbols = symbols.to_str().unwrap();
        let mut argv = vec!["-q", "report", capture.to_str().unwrap(), "-o", out.to_str().unwrap()];
        if fixture == "native-leakyext" {
            argv.extend_from_slice(&["--symbols", symbols]);
        } else if fixture == "v13-native" {
            argv.push("--no-symbols");
        }
        let run = memreport(&argv);
        assert_eq!(run.code, 0, "{fixture}: {}", run.stderr);
        pages.push((format!("{fixture}-report"), out));
    }
    // A report restricted to a time window, which shades it on its charts.
    let out = dir.join("real-flask-leak-window-report.html");
    let capture = fixtures.join("real-flask-leak").join("capture.bin");
    let argv = ["-q", "report", capture.to_str().unwrap(), "--from", "0.5", "--to", "1.5"];
    let run = memreport(&[&argv[..], &["-o", out.to_str().unwrap()]].concat());
    assert_eq!(run.code, 0, "windowed report: {}", run.stderr);
    pages.push(("real-flask-leak-window-report".to_string(), out));
    // A capture set: the parent and its workers, with a process level in the graphs.
    let set_dir = fixtures.join("set-pool-fork");
    let mut set: Vec<String> = std::fs::read_dir(&set_dir)
        .unwrap()
        .map(|e| e.unwrap().path().to_str().unwrap().to_string())
        .filter(|p| p.rsplit('/').next().unwrap().starts_with("capture.bin"))
        .collect();
    set.sort();
    for command in ["report", "flamegraph"] {
        let out = dir.join(format!("set-pool-fork-{command}.html"));
        let mut argv = vec!["-q", command];
        argv.extend(set.iter().map(String::as_str));
        argv.extend(["-o", out.to_str().unwrap()]);
        let run = memreport(&argv);
        assert_eq!(run.code, 0, "set {command}: {}", run.stderr);
        // Not named "-report": a set's report has no table of locations to sort.
        pages.push((format!("set-pool-fork-{command}-page"), out));
    }
    // The worst case for size: a long tail of stacks folded to just under 2 MB.
    let long_tail = dir.join("long-tail.bin");
    std::fs::write(&long_tail, long_tail_capture(12_000)).unwrap();
    let out = dir.join("long-tail-report.html");
    let run =
        memreport(&["-q", "report", long_tail.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(run.code, 0, "long tail: {}", run.stderr);
    pages.push(("long-tail-report".to_string(), out));
    // Diff pages: a regression and an improvement.
    for (name, before, after) in [
        ("diff-cache", "diff-cache-before", "diff-cache-after"),
        ("diff-leak", "diff-leak-before", "diff-leak-after"),
    ] {
        let out = dir.join(format!("{name}.html"));
        let (b, a) =
            (fixtures.join(before).join("capture.bin"), fixtures.join(after).join("capture.bin"));
        let run = memreport(&[
            "-q",
            "diff",
            b.to_str().unwrap(),
            a.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        pages.push((name.to_string(), out));
    }
    for (name, args) in [
        ("peak", &[][..]),
        ("leaks", &["--leaks"][..]),
        ("temporary", &["--temporary"][..]),
        ("inverted-split", &["--inverted", "--split-threads"][..]),
    ] {
        let out = dir.join(format!("v13-threads-flamegraph-{name}.html"));
        let capture = fixtures.join("v13-threads").join("capture.bin");
        let mut argv =
            vec!["-q", "flamegraph", capture.to_str().unwrap(), "-o", out.to_str().unwrap()];
        argv.extend_from_slice(args);
        let run = memreport(&argv);
        assert_eq!(run.code, 0, "flamegraph {name}: {}", run.stderr);
        pages.push((format!("v13-threads-flamegraph-{name}"), out));
    }
    pages
}

/// Finds the widest frame below the root that is not already full width (any frame below the
/// root when all are), marks it and returns where to click it.
const FIND_FRAME: &str = r#"(() => {
  const svg = document.querySelector("section.flame svg.fg");
  const below = [...svg.querySelectorAll("g[data-w]")].filter(g => Number(g.dataset.d) > 0);
  const narrower = below.filter(g => Number(g.dataset.w) < Number(svg.dataset.total));
  const frames = narrower.length > 0 ? narrower : below;
  if (frames.length === 0) return null;
  frames.sort((a, b) => Number(b.dataset.w) - Number(a.dataset.w));
  const g = frames[0];
  g.id = "clicked-frame";
  g.scrollIntoView({block: "center"});
  const r = g.querySelector("rect").getBoundingClientRect();
  return {x: r.left + Math.min(r.width / 2, 20), y: r.top + r.height / 2};
})()"#;

/// Switches the first flame section to its second graph, searches it, and switches back.
const TOGGLE_VIEW: &str = r#"(() => {
  const section = document.querySelector("section.flame");
  const radio = section.querySelector('.fg-variants input:not([value="main"])');
  if (!radio) return null;
  const names = v => [...section.querySelectorAll(`.fg-view[data-view="${v}"] svg.fg g[data-w]`)]
    .map(g => g.dataset.d + " " + g.querySelector("title").textContent.split("\n")[0]).join("|");
  const shown = () => [...section.querySelectorAll(".fg-view")].filter(v => !v.hidden).map(v => v.dataset.view);
  radio.click();
  const now = shown();
  const labels = [...section.querySelectorAll(`.fg-view[data-view="${radio.value}"] svg.fg text`)]
    .filter(t => t.textContent.length > 2).length;
  const s = section.querySelector(".fg-search");
  s.value = "."; s.dispatchEvent(new Event("input"));
  const matched = section.querySelector(".fg-matched").textContent;
  s.value = ""; s.dispatchEvent(new Event("input"));
  section.querySelector('.fg-variants input[value="main"]').click();
  return {key: radio.value, shown: now, labels, matched, back: shown(),
          differ: names("main") !== names(radio.value)};
})()"#;

/// Picks the largest thread in the first flame section's thread menu, then "All threads", and
/// goes back to the main graph; says what each step showed.
const THREAD_MENU: &str = r#"(() => {
  const section = document.querySelector("section.flame");
  const menu = section.querySelector(".fg-threads");
  if (!menu) return null;
  const view = section.querySelector('.fg-view[data-view="threads"]');
  const options = [...menu.options].map(o => o.textContent);
  const shown = () => [...section.querySelectorAll(".fg-view")].filter(v => !v.hidden).map(v => v.dataset.view);
  const tops = [...view.querySelectorAll('svg.fg g[data-w]')].filter(g => g.dataset.d === "1")
    .map(g => g.querySelector("title").textContent.split("\n")[0]);
  menu.selectedIndex = 1;
  menu.dispatchEvent(new Event("change"));
  const picked = [...view.querySelectorAll('svg.fg g[data-w]')]
    .filter(g => g.dataset.d === "1" && !g.classList.contains("hidden"));
  const zoomed = {shown: shown(), picked: picked.map(g => g.querySelector("title").textContent.split("\n")[0]),
    width: picked.length === 1 ? picked[0].querySelector("rect").getAttribute("width") : null,
    reset: !section.querySelector(".fg-reset").disabled};
  menu.selectedIndex = 0;
  menu.dispatchEvent(new Event("change"));
  const hidden = view.querySelectorAll("svg.fg g.hidden").length;
  section.querySelector('.fg-variants input[value="main"]').click();
  return {options, tops, zoomed, hidden, back: shown()};
})()"#;

#[test]
fn pages_load_offline_without_errors_and_flame_graphs_zoom() {
    let Some(mut browser) = Browser::launch() else { return };
    let dir = out_dir();
    let mut failures = Vec::new();
    // Load times (the document parsed, styled and its script run), for people; never asserted,
    // since timing is not a test. Headless Chromium reports no paint timing before a screenshot.
    let mut timings = String::from("page\tbytes\tload ms\n");
    for (name, file) in pages(&dir) {
        let mut page = Page::open(&mut browser, &file);
        let load = page.eval("performance.getEntriesByType('navigation')[0].loadEventEnd");
        timings.push_str(&format!(
            "{name}\t{}\t{:.0}\n",
            std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0),
            load.as_f64().unwrap_or(-1.0)
        ));
        let frames =
            page.eval("document.querySelectorAll('section.flame svg.fg g[data-w]').length");
        let frames = frames.as_u64().unwrap_or(0);
        if frames < 2 {
            failures.push(format!("{name}: the flame graph has {frames} frames"));
        }
        let texts = page.eval(
            "[...document.querySelectorAll('section.flame svg.fg text')].filter(t => t.textContent.length > 2).length",
        );
        if texts.as_u64().unwrap_or(0) == 0 {
            failures.push(format!("{name}: no frame shows its name"));
        }
        let target = page.eval(FIND_FRAME);
        if let (Some(x), Some(y)) = (target["x"].as_f64(), target["y"].as_f64()) {
            page.click(x, y);
            let after = page.eval(
                "(() => { const g = document.getElementById('clicked-frame'); \
                 const reset = g.closest('section').querySelector('.fg-reset'); \
                 return {width: g.querySelector('rect').getAttribute('width'), reset: !reset.disabled}; })()",
            );
            if after["width"] != json!("100%") || after["reset"] != json!(true) {
                failures.push(format!("{name}: clicking a frame did not zoom: {after}"));
            }
            // Zooming out again restores the whole graph.
            page.eval("document.querySelector('section.flame .fg-reset').click()");
            let hidden =
                page.eval("document.querySelectorAll('section.flame svg.fg g.hidden').length");
            if hidden != json!(0) {
                failures.push(format!("{name}: reset zoom left {hidden} frames hidden"));
            }
        } else if frames > 2 {
            failures.push(format!("{name}: no frame to click"));
        }
        // Search marks frames and says how much of the graph matched.
        let matched = page.eval(
            "(() => { const s = document.querySelector('section.flame .fg-search'); s.value = '.'; \
             s.dispatchEvent(new Event('input')); \
             return document.querySelector('section.flame .fg-matched').textContent; })()",
        );
        if !matched.as_str().unwrap_or("").starts_with("matched 100") {
            failures.push(format!("{name}: searching '.' gave {matched}"));
        }
        page.eval(
            "(() => { const s = document.querySelector('section.flame .fg-search'); s.value = ''; \
             s.dispatchEvent(new Event('input')); window.scrollTo(0, 0); })()",
        );
        // Wide frames (a third of the graph or more) show their bytes beside their name.
        let sized = page.eval(
            "(() => { const svg = document.querySelector('section.flame .fg-view:not([hidden]) svg.fg'); \
             const wide = [...svg.querySelectorAll('g[data-w]')].filter(g => Number(g.dataset.d) > 0 \
             && Number(g.dataset.w) * 3 >= Number(svg.dataset.total)); \
             if (wide.length === 0) return null; \
             return wide.some(g => / · [0-9.]+ (B|[KMGTPE]iB)$/.test(g.querySelector('text').textContent)); })()",
        );
        if sized == json!(false) {
            failures.push(format!("{name}: no frame shows its bytes"));
        }
        // The other graphs of a section are one click away, and search follows the one shown.
        let switched = page.eval(TOGGLE_VIEW);
        if !switched.is_null() {
            let ok = switched["shown"].as_array().is_some_and(|s| s.len() == 1)
                && switched["shown"][0] == switched["key"]
                && switched["labels"].as_u64().unwrap_or(0) > 0
                && switched["matched"].as_str().unwrap_or("").starts_with("matched 100")
                && switched["back"] == json!(["main"])
                && switched["differ"] == json!(true);
            if !ok {
                failures.push(format!("{name}: switching graphs: {switched}"));
            }
        }
        // A page of several threads has a graph by thread, and its menu zooms into one.
        let menu = page.eval(THREAD_MENU);
        if !menu.is_null() {
            let options = menu["options"].as_array().cloned().unwrap_or_default();
            let tops = menu["tops"].as_array().cloned().unwrap_or_default();
            let first = options.get(1).and_then(|o| o.as_str()).unwrap_or("");
            let picked = menu["zoomed"]["picked"][0].as_str().unwrap_or("");
            let ok = options.len() == tops.len() + 1
                && tops.len() > 1
                && picked.strip_prefix("thread ").is_some_and(|p| first.starts_with(p))
                && menu["zoomed"]["shown"] == json!(["threads"])
                && menu["zoomed"]["width"] == json!("100%")
                && menu["zoomed"]["reset"] == json!(true)
                && menu["hidden"] == json!(0)
                && menu["back"] == json!(["main"]);
            if !ok {
                failures.push(format!("{name}: the thread menu: {menu}"));
            }
            if name == "real-flask-threads-report"
                && !options.iter().any(|o| {
                    o.as_str().is_some_and(|o| o.starts_with("Thread-N (process_request_thread) ("))
                })
            {
                failures.push(format!("{name}: no group of request threads in {options:?}"));
            }
        } else if ["real-flask-threads-report", "v13-threads-report"].contains(&name.as_str()) {
            failures.push(format!("{name}: no thread menu"));
        }
        if name.ends_with("-report") {
            // Sorting the table by a column orders its rows by that column.
            let sorted = page.eval(
                "(() => { const t = document.querySelector('table.sortable'); \
                 t.querySelectorAll('th')[4].click(); \
                 const v = [...t.tBodies[0].rows].map(r => Number(r.cells[4].dataset.v)); \
                 return v.every((x, i) => i === 0 || v[i - 1] >= x); })()",
            );
            if sorted != json!(true) {
                failures.push(format!("{name}: sorting by leaked bytes did not order the rows"));
            }
            page.eval("document.querySelector('table.sortable').querySelectorAll('th')[1].click()");
            // Hovering a legend row brings its curve forward.
            let focused = page.eval(
                "(() => { const row = document.querySelector('table.legend tr[data-series]'); \
                 if (!row) return null; row.dispatchEvent(new MouseEvent('mouseenter')); \
                 const on = document.querySelector('#locations-over-time svg.chart .line.focus') !== null; \
                 row.dispatchEvent(new MouseEvent('mouseleave')); return on; })()",
            );
            if focused == json!(false) {
                failures.push(format!("{name}: hovering the legend did not bring a curve forward"));
            }
        }
        // Nothing wider than the window, on a laptop and on a wide screen.
        for width in [800, 1440] {
            page.browser.call(
                Some(&page.session),
                "Emulation.setDeviceMetricsOverride",
                json!({"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
            );
            let wide = page.eval(
                "(() => { const w = document.documentElement.clientWidth; \
                 const over = [...document.querySelectorAll('body *')] \
                 .filter(e => e.getBoundingClientRect().right > w + 1 && !e.closest('.table-box')) \
                 .slice(0, 3).map(e => e.tagName + '.' + e.className + ' ' + \
                 Math.round(e.getBoundingClientRect().right)); \
                 return {scroll: document.documentElement.scrollWidth, width: w, over}; })()",
            );
            if wide["scroll"].as_f64() > wide["width"].as_f64() {
                failures.push(format!("{name}: wider than a {width} px window: {wide}"));
            }
        }
        page.browser.call(
            Some(&page.session),
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1366, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
        );
        page.screenshot(&dir.join(format!("{name}.png")));
        page.screenshot_of("section.flame", &dir.join(format!("{name}-flame.png")));
        if name.ends_with("-report") || name.starts_with("diff-") {
            page.screenshot_of("#verdict", &dir.join(format!("{name}-verdict.png")));
        }
        if name == "v13-service-report" || name == "v13-threads-flamegraph-peak" {
            // The same page in the dark scheme, for people to check both.
            page.browser.call(
                Some(&page.session),
                "Emulation.setEmulatedMedia",
                json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]}),
            );
            page.screenshot(&dir.join(format!("{name}-dark.png")));
        }
        for p in page.problems() {
            failures.push(format!("{name}: {p}"));
        }
        page.close();
    }
    std::fs::write(dir.join("timings.tsv"), timings).unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
