//! The control plane is synchronous (SQLite, argon2): its calls run on tokio's blocking pool so
//! that a slow disk or a password hash never stalls the protocol fronts sharing the runtime.

use crate::error::{ApiError, ApiResult};

pub async fn blocking<T, F>(work: F) -> ApiResult<T>
where
    F: FnOnce() -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal("control plane call", e))?
}
