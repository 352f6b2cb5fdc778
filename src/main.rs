fn main() -> std::process::ExitCode {
    gpugate::cli::main()
}
