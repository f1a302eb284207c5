//! Finding and loading ONNX Runtime at run time (`ort`'s `load-dynamic`), and building sessions
//! for the chosen device. `scripts/setup.sh` puts the library in `runtime/` of the checkout; the
//! binary finds it from its own location, so no environment variable is needed.
//!
//! Telemetry: ONNX Runtime 1.29+ on Linux starts Microsoft's 1DS telemetry when the library
//! initialises, before any API call can reach it: it writes a device id and an event store
//! (`onnxruntime.db`) under `~/.cache/Microsoft/DeveloperTools/.onnxruntime/` and queues a
//! process-information event for upload. `DisableTelemetryEvents` (ort's `with_telemetry(false)`)
//! only stops later events. The runtime's switch for the whole thing is the `ORT_DISABLE_TELEMETRY`
//! environment variable, read at initialisation, so [`environment`] sets it before loading the
//! library, and also disables events through the API.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::Session;

use crate::error::{Error, Result};

/// Where the models run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    #[default]
    Cpu,
    Cuda,
}

impl Device {
    /// Folder under `runtime/` that `scripts/setup.sh` fills for this device.
    fn runtime_dir(self) -> &'static str {
        match self {
            Device::Cpu => "onnxruntime",
            Device::Cuda => "onnxruntime-gpu",
        }
    }
}

const LIB_NAME: &str = "libonnxruntime.so";

static ENV: OnceLock<(Environment, Device, PathBuf)> = OnceLock::new();

/// The process-wide ONNX Runtime environment, loading the library on first use.
pub fn environment(device: Device) -> Result<&'static Environment> {
    if let Some((env, loaded, path)) = ENV.get() {
        if *loaded != device {
            return Err(Error::Invalid(format!(
                "ONNX Runtime was already loaded for {loaded:?} from {}",
                path.display()
            )));
        }
        return Ok(env);
    }
    let path = find_library(device)?;
    // Before the library is loaded (see the module): nothing of ours reads the environment
    // concurrently, since the runtime is loaded before any worker thread starts.
    std::env::set_var("ORT_DISABLE_TELEMETRY", "1");
    let builder = ort::init_from(&path).map_err(|e| Error::RuntimeMissing {
        detail: format!("{}: {e}", path.display()),
    })?;
    let env = builder.with_name("facegate").with_telemetry(false).build()?;
    let _ = ENV.set((env, device, path));
    Ok(&ENV.get().expect("just set").0)
}

/// `ORT_DYLIB_PATH` if set; else the library next to the executable, in `../lib`, or in
/// `runtime/<device>/` of any folder above it (the checkout's `target/release/facegate`).
pub fn find_library(device: Device) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(Error::RuntimeMissing { detail: format!("ORT_DYLIB_PATH={} does not exist", p.display()) })
        };
    }
    let exe = std::env::current_exe().map_err(|e| Error::RuntimeMissing { detail: e.to_string() })?;
    let exe_dir = exe.parent().unwrap_or(Path::new("."));
    let mut candidates = vec![exe_dir.join(LIB_NAME), exe_dir.join("../lib").join(LIB_NAME)];
    candidates.extend(exe_dir.ancestors().map(|a| a.join("runtime").join(device.runtime_dir()).join(LIB_NAME)));
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| Error::RuntimeMissing {
        detail: match device {
            Device::Cpu => format!("looked next to {} and in runtime/onnxruntime/ above it", exe.display()),
            Device::Cuda => "no runtime/onnxruntime-gpu/ found; run `scripts/setup.sh --gpu` for the CUDA build".into(),
        },
    })
}

/// A session for `model` bytes on `device` with `threads` intra-op threads. On CUDA the provider
/// must register (no silent fall-back to CPU).
pub fn session(device: Device, model: &[u8], threads: usize) -> Result<Session> {
    let env = environment(device)?;
    let mut builder = Session::builder(env)?.with_intra_threads(threads.max(1))?;
    if device == Device::Cuda {
        builder = builder.with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])?;
    }
    Ok(builder.commit_from_memory(model)?)
}

/// The folder holding `models.toml`: `FACEGATE_MODELS` or `--models`, else `models/` in any folder
/// above the executable, else `../share/facegate/models` beside it.
pub fn find_models(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let exe = std::env::current_exe().map_err(|e| Error::Invalid(e.to_string()))?;
    let exe_dir = exe.parent().unwrap_or(Path::new("."));
    let mut candidates: Vec<PathBuf> = exe_dir.ancestors().map(|a| a.join("models")).collect();
    candidates.push(exe_dir.join("../share/facegate/models"));
    candidates
        .into_iter()
        .find(|p| p.join(super::manifest::MANIFEST_FILE).is_file())
        .ok_or_else(|| Error::Invalid(format!(
            "no models/models.toml found above {}; pass --models DIR or run scripts/setup.sh",
            exe.display()
        )))
}
