//! The client side of `bench/fleet_rate.sh`: one API key's requests at a fixed offered rate, open
//! loop (each request is sent on its tick, whatever the answers before it), and how many the
//! server side admitted.
//!
//! `fleet_rate URL KEY RATE SECONDS`: POSTs `{ __typename }` to URL (`…/graphql`) RATE times a
//! second for SECONDS. Prints one JSON object: the answers by the second they were sent in
//! (`admitted`, `refused`, `failed` lists; the last also holds anything sent late), their
//! totals, and how long the sending took.
use std::time::{Duration, Instant};

use serde_json::json;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, key, rate, seconds] = &args[..] else {
        eprintln!("usage: fleet_rate URL KEY RATE SECONDS");
        std::process::exit(2);
    };
    let rate: u32 = rate.parse().expect("RATE");
    let seconds: u32 = seconds.parse().expect("SECONDS");
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    let started = Instant::now();
    let mut requests = Vec::new();
    for _ in 0..rate * seconds {
        tick.tick().await;
        // By the time it is sent (a client that stalled catches up; its requests count in the
        // second they went out).
        let second = (started.elapsed().as_secs() as u32).min(seconds - 1);
        let request = client
            .post(url.as_str())
            .bearer_auth(key)
            .json(&json!({ "query": "{ __typename }" }))
            .send();
        requests.push(tokio::spawn(async move {
            (
                second,
                request.await.map(|r| r.status().as_u16()).unwrap_or(0),
            )
        }));
    }
    let sent_for = started.elapsed().as_secs_f64();
    let n = seconds as usize;
    let (mut admitted, mut refused, mut failed) = (vec![0u32; n], vec![0u32; n], vec![0u32; n]);
    for request in requests {
        let (second, status) = request.await.unwrap();
        let s = second as usize;
        match status {
            200 => admitted[s] += 1,
            429 => refused[s] += 1,
            _ => failed[s] += 1,
        }
    }
    println!(
        "{}",
        json!({
            "offered_per_second": rate,
            "seconds": seconds,
            "sent_for_seconds": (sent_for * 100.0).round() / 100.0,
            "admitted": admitted,
            "refused": refused,
            "failed": failed,
            "admitted_total": admitted.iter().sum::<u32>(),
            "refused_total": refused.iter().sum::<u32>(),
            "failed_total": failed.iter().sum::<u32>(),
        })
    );
}
