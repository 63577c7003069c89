// The rules/ bundle is compiled into the functions (include_dir!); rebuild when it changes.
fn main() {
    println!("cargo:rerun-if-changed=../../rules");
}
