//! Where a ledger's bytes go: key and value bytes per key prefix in sled's trees, and the
//! size of every file under the ledger directory. Opens sled directly, which writes: run it
//! on a copy of a ledger (`ledger_bytes DIR`), never on one in use.

use std::collections::BTreeMap;
use std::path::Path;

fn files(dir: &Path, out: &mut BTreeMap<String, (u64, u64)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if let Ok(m) = e.metadata() {
            let name = p
                .strip_prefix(dir.parent().unwrap_or(dir))
                .unwrap_or(&p)
                .display()
                .to_string();
            // Group blob files under one line.
            let name = if name.contains("blobs/") {
                "log/blobs/*".to_string()
            } else {
                name
            };
            let entry = out.entry(name).or_default();
            entry.0 += 1;
            entry.1 += m.len();
        }
    }
}

fn main() {
    let usage = "usage: ledger_bytes LEDGER_DIR (a copy of a ledger: sled writes on open)";
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    if dir.starts_with('-') {
        // `--help` and the like: print the usage, never open (and create) a ledger so named.
        println!("{usage}");
        std::process::exit(if dir == "--help" || dir == "-h" { 0 } else { 2 });
    }
    let dir = Path::new(&dir);
    if !dir.join("log").is_dir() {
        eprintln!(
            "ledger_bytes: {} is not a ledger (no log/ under it)",
            dir.display()
        );
        std::process::exit(2);
    }
    let mut on_disk = BTreeMap::new();
    files(dir, &mut on_disk);
    let total: u64 = on_disk.values().map(|(_, b)| b).sum();
    println!("files under {} (before opening):", dir.display());
    for (name, (n, bytes)) in &on_disk {
        println!("  {name:<40} {n:>7} file(s) {bytes:>14} bytes");
    }
    println!("  {:<40} {:>22} bytes", "total", total);
    let db = match espp_engine::store::sled_config(&dir.join("log"))
        .map_err(|e| e.to_string())
        .and_then(|c| c.cache_capacity(64 << 20).open().map_err(|e| e.to_string()))
    {
        Ok(db) => db,
        Err(e) => {
            eprintln!("cannot open sled: {e}");
            std::process::exit(1);
        }
    };
    for name in db.tree_names() {
        let Ok(tree) = db.open_tree(&name) else {
            continue;
        };
        // prefix byte -> (keys, key bytes, value bytes)
        let mut per: BTreeMap<u8, (u64, u64, u64)> = BTreeMap::new();
        for (k, v) in tree.iter().flatten() {
            let e = per.entry(k.first().copied().unwrap_or(0)).or_default();
            e.0 += 1;
            e.1 += k.len() as u64;
            e.2 += v.len() as u64;
        }
        println!("tree {:?}:", String::from_utf8_lossy(&name));
        for (p, (n, kb, vb)) in per {
            let p = if p.is_ascii_graphic() {
                (p as char).to_string()
            } else {
                format!("0x{p:02x}")
            };
            println!("  prefix {p:<4} {n:>9} keys {kb:>12} key bytes {vb:>13} value bytes");
        }
    }
}
