// The rules/ bundle is compiled in as the built-in contract (include_dir!); rebuild when
// it changes.
fn main() {
    println!("cargo:rerun-if-changed=../../rules");
}
