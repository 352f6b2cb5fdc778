//! What can go wrong when a worker asks libtensorflow for something.

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
