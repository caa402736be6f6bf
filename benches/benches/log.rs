//! Criterion benchmarks of the log: durable appends (one event, batches of 1,000, group
//! commit with 1, 16 and 256 concurrent appenders), sled's own raw batch-plus-flush rate as
//! the yardstick, and full-log read + decode. Results and commands: BENCHMARKS.md.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use espp_benches::{company, payroll, temp_ledger};
use espp_engine::{now, Batch, GroupCommitter};
use espp_events::Actor;

fn actor() -> Actor {
    Actor::new("bench").unwrap_or_else(|e| panic!("{e}"))
}

fn durable_appends(c: &mut Criterion) {
    let mut g = c.benchmark_group("append_durable");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));

    let (_dir, mut ledger) = temp_ledger();
    ledger
        .append(Batch::of_events(company(1000), actor()), now())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut n = 0u64;
    g.throughput(Throughput::Elements(1));
    g.bench_function("one_event_per_append", |b| {
        b.iter(|| {
            n += 1;
            ledger
                .append(Batch::of_events(payroll(n, 1), actor()), now())
                .unwrap_or_else(|e| panic!("{e}"))
        })
    });
    g.throughput(Throughput::Elements(1000));
    g.bench_function("batch_of_1000", |b| {
        b.iter(|| {
            n += 1000;
            ledger
                .append(Batch::of_events(payroll(n, 1000), actor()), now())
                .unwrap_or_else(|e| panic!("{e}"))
        })
    });
    g.finish();
}

fn group_commit(c: &mut Criterion) {
    const EVENTS: u64 = 1024;
    let mut g = c.benchmark_group("group_commit");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(EVENTS));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    for appenders in [1u64, 16, 256] {
        let (_dir, mut ledger) = temp_ledger();
        ledger
            .append(Batch::of_events(company(1000), actor()), now())
            .unwrap_or_else(|e| panic!("{e}"));
        let (committer, thread) = GroupCommitter::start(ledger, 256, now);
        let mut n = 0u64;
        g.bench_with_input(
            BenchmarkId::from_parameter(appenders),
            &appenders,
            |b, &appenders| {
                b.iter(|| {
                    let base = n;
                    n += EVENTS;
                    rt.block_on(async {
                        let tasks: Vec<_> = (0..appenders)
                            .map(|t| {
                                let c = committer.clone();
                                tokio::spawn(async move {
                                    let mut i = t;
                                    while i < EVENTS {
                                        c.append(payroll(base + i, 1), actor())
                                            .await
                                            .unwrap_or_else(|e| panic!("{e}"));
                                        i += appenders;
                                    }
                                })
                            })
                            .collect();
                        for t in tasks {
                            t.await.unwrap_or_else(|e| panic!("{e}"));
                        }
                    })
                })
            },
        );
        drop(committer);
        drop(thread.join());
    }
    g.finish();
}

/// sled alone: `apply_batch` of N ~150-byte values, `flush`, fsync of its data file.
fn sled_raw(c: &mut Criterion) {
    let mut g = c.benchmark_group("sled_raw_batch_flush_fsync");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    for size in [1u64, 1000] {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let db = sled::Config::new()
            .path(dir.path())
            .cache_capacity(64 << 20)
            .flush_every_ms(None)
            .open()
            .unwrap_or_else(|e| panic!("{e}"));
        let data = std::fs::File::open(dir.path().join("db")).unwrap_or_else(|e| panic!("{e}"));
        let mut k = 0u64;
        g.throughput(Throughput::Elements(size));
        g.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, &size| {
            b.iter(|| {
                let mut batch = sled::Batch::default();
                for _ in 0..size {
                    k += 1;
                    batch.insert(&k.to_be_bytes(), vec![7u8; 150]);
                }
                db.apply_batch(batch).unwrap_or_else(|e| panic!("{e}"));
                db.flush().unwrap_or_else(|e| panic!("{e}"));
                data.sync_data().unwrap_or_else(|e| panic!("{e}"));
            })
        });
    }
    g.finish();
}

fn read_decode(c: &mut Criterion) {
    const EVENTS: u64 = 100_000;
    let mut g = c.benchmark_group("read");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    let (dir, mut ledger) = temp_ledger();
    ledger
        .append(Batch::of_events(company(1000), actor()), now())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut n = 0;
    while n < EVENTS {
        ledger
            .append(Batch::of_events(payroll(n, 10_000), actor()), now())
            .unwrap_or_else(|e| panic!("{e}"));
        n += 10_000;
    }
    let total = ledger.head_seq();
    drop(ledger);
    g.throughput(Throughput::Elements(total));
    let ledger = espp_engine::Ledger::open(dir.path(), &espp_engine::Options::default())
        .unwrap_or_else(|e| panic!("{e}"));
    g.bench_function("full_log_read_decode", |b| {
        b.iter(|| {
            let mut count = 0u64;
            for r in ledger.records() {
                r.unwrap_or_else(|e| panic!("{e}"));
                count += 1;
            }
            assert_eq!(count, total);
            count
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    durable_appends,
    group_commit,
    sled_raw,
    read_decode
);
criterion_main!(benches);
