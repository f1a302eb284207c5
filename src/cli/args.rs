//! The command line, as clap sees it. Nothing here runs anything.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::query::Method;
use crate::vision::Device;

#[derive(Parser, Debug)]
#[command(name = "facegate", version, about = "Find every photo of a person in a photo archive; gate photo use on consent")]
pub struct Cli {
    /// Library folder (database and index). Default: $FACEGATE_LIBRARY, else
    /// $XDG_DATA_HOME/facegate, else ~/.local/share/facegate.
    #[arg(long, global = true, value_name = "DIR")]
    pub library: Option<PathBuf>,

    /// Folder with models.toml and the model files. Default: models/ of the checkout the binary
    /// was built in, or ../share/facegate/models beside the binary.
    #[arg(long, global = true, value_name = "DIR", env = "FACEGATE_MODELS")]
    pub models: Option<PathBuf>,

    /// Where the models run. cuda needs the onnxruntime-gpu build (scripts/setup.sh --gpu) and a GPU.
    #[arg(long, global = true, value_enum, default_value_t = Device::Cpu)]
    pub device: Device,

    /// Print results as JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Index the photos under one or more folders (incremental: unchanged files are skipped,
    /// deleted ones are dropped from the library).
    Index(IndexArgs),
    /// Find every indexed photo of the person in a query photo.
    Search(SearchArgs),
    /// Show what the library holds.
    Status,
}

#[derive(Args, Debug)]
pub struct IndexArgs {
    /// Folders or files to index.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Worker threads (default: number of CPU cores).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,

    /// Photos committed per transaction.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Photo showing the person.
    #[arg(long, value_name = "FILE")]
    pub photo: PathBuf,

    /// Which face of the query photo, counting from 1 by size (default: the largest).
    #[arg(long, value_name = "N")]
    pub face: Option<usize>,

    /// Cosine similarity at or above which a face counts as the person (default: the embedder's
    /// calibrated threshold from models.toml).
    #[arg(long)]
    pub threshold: Option<f32>,

    /// index: the HNSW index (fast, approximate); exact: compare with every stored face.
    #[arg(long, value_enum, default_value_t = Method::Index)]
    pub method: Method,
}
