//! What can go wrong when a worker asks libtensorflow for something.

/// Why one place libtensorflow was looked for did not give a usable one.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Open(#[from] crate::dl::DlError),
    #[error("loads, but does not export TensorFlow's C API (no TF_Version)")]
    NotTheCApi,
    #[error("failed to create a temporary directory: {0}")]
    TempDir(#[source] std::io::Error),
    #[error("failed to link libtensorflow.so: {0}")]
    Link(#[source] std::io::Error),
    /// The tensorflow crate's binding of the C API, in its words.
    #[error("loaded, but binding the C API failed: {0}")]
    Bind(String),
    #[error("TF_Version failed: {0}")]
    Version(#[source] std::str::Utf8Error),
}

/// A TensorFlow operation that did not happen, and why.
#[derive(Debug, thiserror::Error)]
pub enum TfError {
    /// libtensorflow did not load: every place it was looked for, and why
    /// each failed.
    #[error("{0}")]
    NotLoaded(String),
    /// TensorFlow's C API refused or failed a step (placing an op, creating
    /// a session, running it), in its own words.
    #[error(transparent)]
    Status(#[from] tensorflow::Status),
    /// TensorFlow built the model's graph without the gradient of this
    /// parameter.
    #[error("TensorFlow built no gradient for {0}")]
    NoGradient(&'static str),
    /// An op or attribute name held a NUL byte.
    #[error("a name TensorFlow cannot take: {0}")]
    Name(#[from] std::ffi::NulError),
    /// One of two trainings run side by side panicked.
    #[error("the {0} training panicked")]
    Panicked(&'static str),
}
