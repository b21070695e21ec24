//! Heap allocations per message on the hot path, counted by a global allocator: an echo over
//! loopback TCP (server: `next` + `feed`, as `wschannel serve` does; client: `send` + `next`),
//! after a warm-up, must allocate nothing per message of up to 4 KiB. Counts, not times.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use wschannel::{Message, Utf8Bytes};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; it only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            ALLOCATIONS.fetch_add(1, Relaxed);
        }
        // SAFETY: the caller's contract is passed on as it is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            ALLOCATIONS.fetch_add(1, Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const WARM_UP: usize = 200;
const MEASURED: usize = 1000;

/// Round trips `msg` through a loopback echo server; returns allocations per message once warm.
async fn allocations_per_echo(msg: Message) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = wschannel::accept(tcp).await.unwrap();
        while let Some(Ok(msg)) = ws.next().await {
            if msg.is_data() {
                ws.feed(msg).await.unwrap();
            }
        }
    });
    // No proxy, whatever the environment says.
    let mut client =
        wschannel::ClientBuilder::new().no_proxy().connect(&format!("ws://{addr}/")).await.unwrap();

    for i in 0..WARM_UP + MEASURED {
        if i == WARM_UP {
            ALLOCATIONS.store(0, Relaxed);
            COUNTING.store(true, Relaxed);
        }
        client.send(msg.clone()).await.unwrap();
        let echo = client.next().await.unwrap().unwrap();
        assert_eq!(echo.len(), msg.len());
    }
    COUNTING.store(false, Relaxed);
    let count = ALLOCATIONS.load(Relaxed);

    client.close(wschannel::CloseCode::NORMAL, "").await.unwrap();
    server.await.unwrap();
    count as f64 / MEASURED as f64
}

#[test]
fn echo_allocates_nothing_per_message_up_to_4_kib() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    static TEXT: &str = "héllo wörld, ünïcode ✓ — ";
    let mut failures = Vec::new();
    for size in [20, 1024, 4096] {
        let binary: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let text: String = TEXT
            .chars()
            .cycle()
            .take_while({
                let mut n = 0;
                move |c| {
                    n += c.len_utf8();
                    n <= size
                }
            })
            .collect();
        let cases = [
            ("binary", Message::Binary(Bytes::from(binary))),
            ("text", Message::Text(Utf8Bytes::from(text))),
        ];
        for (kind, msg) in cases {
            let per_message = rt.block_on(allocations_per_echo(msg));
            println!("{kind} {size} B: {per_message} allocations per echoed message");
            if per_message != 0.0 {
                failures.push(format!("{kind} {size} B: {per_message}"));
            }
        }
    }
    assert!(failures.is_empty(), "allocations per message after warm-up: {failures:?}");
}
