//! Architecture invariant: rota-core is pure. No file, network or process IO and no clock in
//! its sources (time is an argument; IO belongs to rota-store and the providers). clippy.toml
//! catches `SystemTime::now`; this also catches the rest.

#[test]
fn sources_have_no_io_and_no_clock() {
    let forbidden = [
        "std::fs",
        "std::net",
        "std::process",
        "std::env",
        "std::io",
        "SystemTime",
        "Instant",
        "Utc::now",
        "Ulid::new()",
        "thread_rng",
        "println!",
        "eprintln!",
    ];
    // The run-time variable names this clone even when a shared target dir holds a binary
    // compiled in another one.
    let dir = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("src");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for word in forbidden {
            assert!(!text.contains(word), "{} uses {word}", path.display());
        }
        checked += 1;
    }
    assert!(checked >= 5, "sources not found in {}", dir.display());
}
