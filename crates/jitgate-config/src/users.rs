//! `[users.NAME]`: the embedded identity provider's users, with argon2 password hashes.

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::Argon2;

use crate::error::ConfigError;
use crate::model::{LocalUser, Secret};
use crate::secret::read_password;
use crate::section::{Field, Section};

/// Hashes a password with argon2id and the crate's default cost, as a PHC string: what
/// `password_hash` expects, and what plain passwords from `password_env`/`password_file` become.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::encode_b64(&rand_salt()).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn rand_salt() -> [u8; 16] {
    // A salt only needs to be unique; the thread's CSPRNG is more than enough.
    rand::random()
}

/// Reads every `[users.NAME]` table, in file order; none is fine (another identity provider may
/// be used, or only admin commands).
pub(crate) fn read_users(root: &Section<'_>) -> Result<Vec<LocalUser>, ConfigError> {
    let Some(field) = root.get("users") else {
        return Ok(Vec::new());
    };
    field
        .table()?
        .entries()
        .iter()
        .map(|entry| {
            check_user_name(entry)?;
            read_user(entry)
        })
        .collect()
}

/// User names become subjects in grants, logs and credential logins, so keep them plain.
fn check_user_name(entry: &Field<'_>) -> Result<(), ConfigError> {
    let mut chars = entry.name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '@'))
        && entry.name.len() <= 64;
    if valid {
        return Ok(());
    }
    Err(entry.key_error(
        "a user name starts with a letter or digit, continues with letters, digits, '_', '.', \
         '-' or '@', and has at most 64 characters",
    ))
}

fn read_user(entry: &Field<'_>) -> Result<LocalUser, ConfigError> {
    let s = entry.table()?;
    s.only(&["password_hash", "password_env", "password_file", "groups"])?;
    // Groups first: a mistake there is cheaper to report than after hashing a password.
    let groups = s.optional("groups", Field::strings)?.unwrap_or_default();
    let plain_given = s.get("password_env").is_some() || s.get("password_file").is_some();
    let password_hash = match (s.get("password_hash"), plain_given) {
        (Some(f), false) => read_hash(&f)?,
        (Some(f), true) => {
            return Err(f.key_error(
                "give either password_hash or one of password_env and password_file, not both",
            ))
        }
        (None, _) => {
            // `read_password` refuses two sources and empty values, with the key's position.
            let Some(plain) = read_password(&s)? else {
                return Err(s.missing("password_hash (or password_env, password_file)"));
            };
            let hash = hash_password(plain.expose())
                .map_err(|e| entry.error(format!("cannot hash the password: {e}")))?;
            Secret::new(hash, format!("{} (hashed at load)", plain.origin()))
        }
    };
    Ok(LocalUser {
        name: entry.name.to_string(),
        password_hash,
        groups,
    })
}

/// Checks that the value is an argon2 PHC string; its text is never echoed in the message.
fn read_hash(f: &Field<'_>) -> Result<Secret, ConfigError> {
    let invalid = || {
        f.error(
            "expected an argon2 PHC string such as \"$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH\" \
             (see docs/configuration.md)",
        )
    };
    let text = f.str().map_err(|_| invalid())?;
    let parsed = PasswordHash::new(text).map_err(|_| invalid())?;
    let argon = matches!(
        parsed.algorithm.as_str(),
        "argon2id" | "argon2i" | "argon2d"
    );
    if !argon || parsed.hash.is_none() || argon2::Params::try_from(&parsed).is_err() {
        return Err(invalid());
    }
    Ok(Secret::new(text.to_string(), "inline hash"))
}
