//! Helpers shared by the CLI's integration tests.

/// `../shared/data/femnist-leaf` beside the clone: the FEMNIST subset the
/// native acceptance tests read (CI has `../shared` there). Panics, naming
/// the path, when it is missing.
pub fn shared_femnist() -> std::path::PathBuf {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/femnist-leaf");
    assert!(
        dir.join("train").is_dir() && dir.join("test").is_dir(),
        "the shared FEMNIST data is missing at {}: these tests need ../shared beside the clone",
        dir.display()
    );
    dir
}
