//! Embeds GraphiQL (and the React UMD builds it needs) into the binary.
//!
//! The JS/CSS come from npm packages pinned by `graphiql/package-lock.json`;
//! `graphiql/node_modules/` is git-ignored, so the third-party bundles are
//! never committed. On a fresh clone (or after the lockfile changes the
//! pinned versions) this script runs `npm ci` in `graphiql/`, then copies the
//! four assets into `OUT_DIR`, where `src/http/graphiql.rs` `include_bytes!`s them.
//!
//! It also builds the wallboard (`GET /wallboard`): in `clients/typescript/` (pinned by its
//! `package-lock.json`) it runs `npm ci` when needed, generates the typed client from
//! `schema.graphql` (graphql-codegen) and bundles `wallboard/src/main.ts` with Chart.js,
//! graphql-ws and graphql-sse (esbuild) into `OUT_DIR/wallboard.js`, which
//! `src/http/wallboard.rs` embeds. Only `npm ci` needs the network.
//!
//! Std-only on purpose: no build-dependencies.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{exit, Command};

/// (npm package, file inside the package, file name in OUT_DIR)
const ASSETS: [(&str, &str, &str); 4] = [
    (
        "react",
        "umd/react.production.min.js",
        "react.production.min.js",
    ),
    (
        "react-dom",
        "umd/react-dom.production.min.js",
        "react-dom.production.min.js",
    ),
    ("graphiql", "graphiql.min.js", "graphiql.min.js"),
    ("graphiql", "graphiql.min.css", "graphiql.min.css"),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=graphiql/package-lock.json");

    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let npm_dir = manifest_dir.join("graphiql");
    let lockfile = npm_dir.join("package-lock.json");
    let modules = npm_dir.join("node_modules");

    let lock = fs::read_to_string(&lockfile)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", lockfile.display())));

    if let Some(why) = needs_install(&lock, &modules) {
        npm_ci(&npm_dir, &why);
        if let Some(why) = needs_install(&lock, &modules) {
            fail(&format!(
                "`npm ci` in {} succeeded but the GraphiQL assets are still not usable: {why}",
                npm_dir.display()
            ));
        }
    }

    build_wallboard(&manifest_dir, &out_dir);

    for (pkg, file, out_name) in ASSETS {
        let src = modules.join(pkg).join(file);
        let dst = out_dir.join(out_name);
        if let Err(e) = fs::copy(&src, &dst) {
            fail(&format!(
                "cannot copy {} to {}: {e}",
                src.display(),
                dst.display()
            ));
        }
    }
}

/// `None` if every asset file exists and each package's installed version is
/// the one pinned in the lockfile; otherwise the reason an install is needed.
fn needs_install(lock: &str, modules: &Path) -> Option<String> {
    for (pkg, file, _) in ASSETS {
        let path = modules.join(pkg).join(file);
        if !path.is_file() {
            return Some(format!("{} is missing", path.display()));
        }
        let pinned = version_after(lock, &format!("\"node_modules/{pkg}\""));
        let installed = fs::read_to_string(modules.join(pkg).join("package.json"))
            .ok()
            .and_then(|manifest| version_after(&manifest, "{"));
        if pinned.is_none() {
            fail(&format!("graphiql/package-lock.json has no entry for `{pkg}`; run `npm install` in graphiql/"));
        }
        if installed != pinned {
            return Some(format!(
                "{pkg} {} is installed but the lockfile pins {}",
                installed.as_deref().unwrap_or("(unknown)"),
                pinned.as_deref().unwrap_or("(unknown)")
            ));
        }
    }
    None
}

/// The value of the first `"version": "..."` after `anchor` in a JSON text.
/// Good enough for npm's own pretty-printed package.json / package-lock.json.
fn version_after(json: &str, anchor: &str) -> Option<String> {
    let rest = &json[json.find(anchor)? + anchor.len()..];
    let rest = &rest[rest.find("\"version\"")? + "\"version\"".len()..];
    let rest = rest
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

fn npm_ci(npm_dir: &Path, why: &str) {
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    let args = ["ci", "--ignore-scripts", "--no-audit", "--no-fund"];
    let hint = format!(
        "GraphiQL and the wallboard are built from npm packages pinned in a package-lock.json, \
         and those in {} need installing ({why}).\n\
         Install Node.js/npm (npm >= 7) and rebuild, or run `npm {}` in {} yourself.",
        npm_dir.display(),
        args.join(" "),
        npm_dir.display()
    );
    // Capture npm's output rather than inheriting it: a build script's stdout
    // is parsed by cargo for `cargo:` directives.
    let output = match Command::new(npm).args(args).current_dir(npm_dir).output() {
        Ok(output) => output,
        Err(e) => fail(&format!("could not run `{npm}`: {e}\n{hint}")),
    };
    if !output.status.success() {
        fail(&format!(
            "`{npm} {}` in {} failed ({}):\n{}{}\n{hint}",
            args.join(" "),
            npm_dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        ));
    }
}

/// Files of `clients/typescript/` the wallboard bundle is made from (not `src/generated/`, which
/// this script writes).
const WALLBOARD_INPUTS: [&str; 11] = [
    "package-lock.json",
    "codegen.yml",
    "tsconfig.json",
    "operations",
    "src/client.ts",
    "src/dashboard.ts",
    "src/index.ts",
    "wallboard/build.mjs",
    "wallboard/src",
    "wallboard/index.html",
    "wallboard/wallboard.css",
];

fn build_wallboard(manifest_dir: &Path, out_dir: &Path) {
    let dir = manifest_dir.join("clients").join("typescript");
    println!("cargo:rerun-if-changed=schema.graphql");
    for input in WALLBOARD_INPUTS {
        println!("cargo:rerun-if-changed=clients/typescript/{input}");
    }
    // `npm ci` leaves node_modules/.package-lock.json; install again when the lockfile is newer.
    let installed = fs::metadata(dir.join("node_modules").join(".package-lock.json"))
        .and_then(|m| m.modified())
        .ok();
    let locked = fs::metadata(dir.join("package-lock.json"))
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| {
            fail(&format!(
                "cannot read clients/typescript/package-lock.json: {e}"
            ))
        });
    if installed.is_none_or(|installed| installed < locked) {
        npm_ci(
            &dir,
            "the wallboard's packages are not installed, or older than the lockfile",
        );
    }
    let out = out_dir.join("wallboard.js");
    let out = out
        .to_str()
        .unwrap_or_else(|| fail("OUT_DIR is not valid UTF-8"));
    run_npm(&dir, &["run", "--silent", "build:wallboard", "--", out]);
}

fn run_npm(dir: &Path, args: &[&str]) {
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    let output = match Command::new(npm).args(args).current_dir(dir).output() {
        Ok(output) => output,
        Err(e) => fail(&format!("could not run `{npm}`: {e}")),
    };
    if !output.status.success() {
        fail(&format!(
            "`{npm} {}` in {} failed ({}):\n{}{}",
            args.join(" "),
            dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        ));
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    exit(1);
}
