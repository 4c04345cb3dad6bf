//! The shell examples of docs/scim.md, run as pasted against a fresh hub: every ```sh block
//! in order in one bash session (`keyway` is this build, on the hub's data dir; the doc's
//! 127.0.0.1:8080 is the hub's port). Each `#   ` comment line after a command is the output
//! the doc promises, compared with jq's compact form of what came out.

use std::process::Command;

use crate::harness::{BIN, Hub, repo_root};

/// The ```sh blocks of a Markdown text.
fn sh_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match current.as_mut() {
            None if line == "```sh" => current = Some(String::new()),
            None => {}
            Some(_) if line == "```" => blocks.extend(current.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    blocks
}

/// The promised outputs (`#   …` lines), with white space removed for comparison.
fn promised(block: &str) -> Vec<String> {
    block
        .lines()
        .filter_map(|line| line.strip_prefix("#   "))
        .map(|text| text.split_whitespace().collect())
        .collect()
}

#[test]
fn the_scim_doc_examples_run_as_pasted() {
    if !crate::interop::available(
        "the_scim_doc_examples_run_as_pasted",
        crate::readme_tour::missing_tools(),
    ) {
        return;
    }
    let doc = std::fs::read_to_string(repo_root().join("docs/scim.md")).unwrap();
    let blocks = sh_blocks(&doc);
    assert!(
        blocks.len() >= 2,
        "docs/scim.md has {} sh blocks",
        blocks.len()
    );
    let hub = Hub::start();
    let port = hub.url.rsplit(':').next().unwrap().to_string();
    let mut script = format!(
        "set -euo pipefail\nkeyway() {{ '{BIN}' --data-dir '{}' \"$@\"; }}\n",
        hub.data_dir().display()
    );
    for block in &blocks {
        script.push_str(&block.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}")));
    }
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "docs/scim.md examples failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: String = stdout.split_whitespace().collect();
    for promise in blocks.iter().flat_map(|b| promised(b)) {
        assert!(
            printed.contains(&promise),
            "docs/scim.md promises {promise:?}; the examples printed:\n{stdout}"
        );
    }
}
