//! Where text goes: the process's stdout or stderr, or memory that a test
//! reads back. Reporters and the run's own messages write to a [`Console`]
//! they are given, never to the process's streams directly, so each can be
//! run and snapshot in memory.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// A place to say text, shared by whoever was given a clone.
#[derive(Clone)]
pub struct Console(Arc<Mutex<dyn Write + Send>>);

impl Console {
    pub fn stdout() -> Console {
        Console(Arc::new(Mutex::new(std::io::stdout())))
    }

    pub fn stderr() -> Console {
        Console(Arc::new(Mutex::new(std::io::stderr())))
    }

    /// A console that keeps what it is told, and the handle that reads it.
    #[cfg(test)]
    pub fn memory() -> (Console, Memory) {
        let memory = Memory::default();
        (Console(Arc::new(Mutex::new(memory.clone()))), memory)
    }

    pub fn say(&self, text: &str) {
        let mut out = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // A reader that went away (`gpugate ... | head`) must not end the
        // run before its reports are written.
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    }
}

/// What a [`Console::memory`] was told.
#[cfg(test)]
#[derive(Clone, Default)]
pub struct Memory(Arc<Mutex<Vec<u8>>>);

#[cfg(test)]
impl Memory {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

#[cfg(test)]
impl Write for Memory {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
