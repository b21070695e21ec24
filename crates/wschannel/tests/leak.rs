//! Nothing stays behind when a connection ends: a global allocator counts the bytes alive, and
//! after hundreds of whole sessions (handshake-free `pair()`s exchanging messages both ways,
//! pings, split and reunite, close) the heap is where it was after the first ones. Counts, not
//! times.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

use futures_util::{SinkExt, StreamExt};
use wschannel::{CloseCode, Config, ControlPayload, Message};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; it only counts live bytes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        // SAFETY: the caller's contract is passed on as it is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One whole session: messages of several sizes both ways (up to 4 KiB, so that the spare
/// buffers the pool keeps are of one size), a ping, the client split and reunited, a close.
async fn session(i: usize) {
    let (client, mut server) = wschannel::pair(Config::default());
    let echo = async move {
        while let Some(Ok(msg)) = server.next().await {
            if msg.is_data() {
                server.feed(msg).await.unwrap();
            }
        }
    };
    let talk = async move {
        let (mut tx, mut rx) = client.split();
        for n in [0usize, 20, 1000, 4000] {
            let len = n + i % 7;
            tx.send(Message::binary(vec![i as u8; len])).await.unwrap();
            tx.send(Message::text("é".repeat(len / 2))).await.unwrap();
            assert_eq!(rx.next().await.unwrap().unwrap().len(), len);
            assert_eq!(rx.next().await.unwrap().unwrap().len(), len / 2 * 2);
        }
        let mut ws = tx.reunite(rx).unwrap();
        ws.ping(ControlPayload::try_from_bytes(&b"p"[..]).unwrap()).await.unwrap();
        ws.close(CloseCode::NORMAL, "done").await.unwrap();
    };
    tokio::join!(echo, talk);
}

#[tokio::test(flavor = "current_thread")]
async fn sessions_leave_nothing_behind() {
    for i in 0..50 {
        session(i).await;
    }
    let warm = LIVE.load(Relaxed);
    for i in 50..450 {
        session(i).await;
    }
    let after = LIVE.load(Relaxed);
    // A leak of even 200 bytes a session would show as 80 KB here; the per-thread pool of
    // spare buffers may hold a few more or fewer 8 KiB buffers at either point.
    let grown = after - warm;
    assert!(grown < 64 << 10, "400 sessions left {grown} bytes behind (warm: {warm} bytes live)");
}
