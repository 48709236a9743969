//! Compiles the double's own .proto files (in `proto/`) with protox, so no `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["proto/streams.proto", "proto/server_features.proto"];
    for file in files.iter().chain(&["proto/shared.proto"]) {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    tonic_build::configure()
        .build_client(false)
        // Event payloads are shared between readers without copying.
        .bytes(["."])
        .compile_fds(descriptors)?;
    Ok(())
}
