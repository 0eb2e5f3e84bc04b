//! The messages of the MySQL client/server protocol jitgate reads or writes itself: the
//! handshake (greeting and response), OK and ERR packets, length-encoded integers.

use bytes::{BufMut, BytesMut};

/// Capability flags (`CLIENT_*`); some are named only to be kept out of [`cap::RELAYED`].
#[allow(dead_code)]
pub mod cap {
    pub const LONG_PASSWORD: u32 = 1;
    pub const FOUND_ROWS: u32 = 1 << 1;
    pub const LONG_FLAG: u32 = 1 << 2;
    pub const CONNECT_WITH_DB: u32 = 1 << 3;
    pub const COMPRESS: u32 = 1 << 5;
    pub const ODBC: u32 = 1 << 6;
    pub const LOCAL_FILES: u32 = 1 << 7;
    pub const IGNORE_SPACE: u32 = 1 << 8;
    pub const PROTOCOL_41: u32 = 1 << 9;
    pub const INTERACTIVE: u32 = 1 << 10;
    pub const SSL: u32 = 1 << 11;
    pub const IGNORE_SIGPIPE: u32 = 1 << 12;
    pub const TRANSACTIONS: u32 = 1 << 13;
    pub const RESERVED: u32 = 1 << 14;
    pub const SECURE_CONNECTION: u32 = 1 << 15;
    pub const MULTI_STATEMENTS: u32 = 1 << 16;
    pub const MULTI_RESULTS: u32 = 1 << 17;
    pub const PS_MULTI_RESULTS: u32 = 1 << 18;
    pub const PLUGIN_AUTH: u32 = 1 << 19;
    pub const CONNECT_ATTRS: u32 = 1 << 20;
    pub const PLUGIN_AUTH_LENENC: u32 = 1 << 21;

    /// What jitgate relays: flags that change packet formats after login are passed only if
    /// jitgate reads those formats (no DEPRECATE_EOF, SESSION_TRACK, QUERY_ATTRIBUTES, optional
    /// metadata or MariaDB's extended flags), and never COMPRESS, LOCAL_FILES or SSL upstream.
    pub const RELAYED: u32 = LONG_PASSWORD
        | FOUND_ROWS
        | LONG_FLAG
        | CONNECT_WITH_DB
        | ODBC
        | IGNORE_SPACE
        | PROTOCOL_41
        | INTERACTIVE
        | IGNORE_SIGPIPE
        | TRANSACTIONS
        | RESERVED
        | SECURE_CONNECTION
        | MULTI_STATEMENTS
        | MULTI_RESULTS
        | PS_MULTI_RESULTS
        | PLUGIN_AUTH
        | PLUGIN_AUTH_LENENC;

    /// What a client must support: the 4.1 protocol with its authentication.
    pub const REQUIRED: u32 = PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH;
}

/// Server status flags (`SERVER_*`).
pub mod status {
    pub const AUTOCOMMIT: u16 = 0x0002;
    pub const MORE_RESULTS_EXISTS: u16 = 0x0008;
    pub const CURSOR_EXISTS: u16 = 0x0040;
}

/// Commands (`COM_*`).
pub mod com {
    pub const QUIT: u8 = 0x01;
    pub const INIT_DB: u8 = 0x02;
    pub const QUERY: u8 = 0x03;
    pub const FIELD_LIST: u8 = 0x04;
    pub const STATISTICS: u8 = 0x09;
    pub const PROCESS_KILL: u8 = 0x0c;
    pub const PING: u8 = 0x0e;
    pub const CHANGE_USER: u8 = 0x11;
    pub const BINLOG_DUMP: u8 = 0x12;
    pub const TABLE_DUMP: u8 = 0x13;
    pub const REGISTER_SLAVE: u8 = 0x15;
    pub const STMT_PREPARE: u8 = 0x16;
    pub const STMT_EXECUTE: u8 = 0x17;
    pub const STMT_SEND_LONG_DATA: u8 = 0x18;
    pub const STMT_CLOSE: u8 = 0x19;
    pub const STMT_RESET: u8 = 0x1a;
    pub const SET_OPTION: u8 = 0x1b;
    pub const STMT_FETCH: u8 = 0x1c;
    pub const BINLOG_DUMP_GTID: u8 = 0x1e;
    pub const RESET_CONNECTION: u8 = 0x1f;
}

/// Server error numbers jitgate answers with, with their SQLSTATEs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode {
    pub code: u16,
    pub sqlstate: &'static str,
}

impl ErrorCode {
    /// ER_ACCESS_DENIED_ERROR.
    pub const ACCESS_DENIED: ErrorCode = ErrorCode {
        code: 1045,
        sqlstate: "28000",
    };
    /// ER_SPECIFIC_ACCESS_DENIED_ERROR: what masking refuses.
    pub const SPECIFIC_ACCESS_DENIED: ErrorCode = ErrorCode {
        code: 1227,
        sqlstate: "42000",
    };
    /// ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION.
    pub const READ_ONLY: ErrorCode = ErrorCode {
        code: 1792,
        sqlstate: "25006",
    };
    /// ER_PARSE_ERROR: a statement jitgate cannot analyse.
    pub const PARSE: ErrorCode = ErrorCode {
        code: 1064,
        sqlstate: "42000",
    };
    /// ER_UNKNOWN_COM_ERROR.
    pub const UNKNOWN_COMMAND: ErrorCode = ErrorCode {
        code: 1047,
        sqlstate: "08S01",
    };
    /// ER_NOT_SUPPORTED_YET.
    pub const NOT_SUPPORTED: ErrorCode = ErrorCode {
        code: 1235,
        sqlstate: "42000",
    };
    /// ER_NO_SUCH_THREAD.
    pub const NO_SUCH_THREAD: ErrorCode = ErrorCode {
        code: 1094,
        sqlstate: "HY000",
    };
    /// ER_CONNECTION_KILLED: a session ended by its grant or an administrator.
    pub const CONNECTION_KILLED: ErrorCode = ErrorCode {
        code: 1927,
        sqlstate: "70100",
    };
    /// ER_SERVER_SHUTDOWN.
    pub const SHUTDOWN: ErrorCode = ErrorCode {
        code: 1053,
        sqlstate: "08S01",
    };
    /// ER_HANDSHAKE_ERROR.
    pub const HANDSHAKE: ErrorCode = ErrorCode {
        code: 1043,
        sqlstate: "08S01",
    };
    /// ER_CON_COUNT_ERROR.
    pub const TOO_MANY_CONNECTIONS: ErrorCode = ErrorCode {
        code: 1040,
        sqlstate: "08004",
    };
    /// ER_BAD_HOST_ERROR: jitgate cannot reach or log in to the upstream.
    /// (Not 2013, CR_SERVER_LOST: a client's own code, which clients do not show as sent.)
    pub const UPSTREAM: ErrorCode = ErrorCode {
        code: 1042,
        sqlstate: "08S01",
    };
}

/// An ERR packet's payload.
pub fn err_packet(code: ErrorCode, message: &str) -> Vec<u8> {
    let mut p = Vec::with_capacity(9 + message.len());
    p.push(0xff);
    p.extend_from_slice(&code.code.to_le_bytes());
    p.push(b'#');
    p.extend_from_slice(code.sqlstate.as_bytes());
    p.extend_from_slice(message.as_bytes());
    p
}

/// An OK packet's payload with nothing affected.
pub fn ok_packet(status: u16) -> Vec<u8> {
    vec![0x00, 0, 0, status as u8, (status >> 8) as u8, 0, 0]
}

/// The SQLSTATE of an ERR packet's payload (4.1 protocol), if it carries one.
pub fn err_sqlstate(payload: &[u8]) -> Option<jitgate_sqlstate::SqlState> {
    if payload.first() != Some(&0xff) || payload.get(3) != Some(&b'#') {
        return None;
    }
    jitgate_sqlstate::SqlState::from_bytes(payload.get(4..9)?).ok()
}

/// Whether the payload is an EOF packet (and not a row whose first value is long).
pub fn is_eof(payload: &[u8]) -> bool {
    payload.first() == Some(&0xfe) && payload.len() < 9
}

/// The status flags of an EOF packet's payload.
pub fn eof_status(payload: &[u8]) -> u16 {
    match payload {
        [0xfe, _, _, a, b, ..] => u16::from_le_bytes([*a, *b]),
        _ => 0,
    }
}

/// The status flags of an OK packet's payload.
pub fn ok_status(payload: &[u8]) -> u16 {
    let mut r = Reader::new(payload.get(1..).unwrap_or_default());
    let _ = r.lenenc();
    let _ = r.lenenc();
    r.u16().unwrap_or(0)
}

/// Reads fields off a payload; every read checks bounds.
pub struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Reader { b }
    }
    pub fn rest(&self) -> &'a [u8] {
        self.b
    }
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.b.len() < n {
            return None;
        }
        let (a, rest) = self.b.split_at(n);
        self.b = rest;
        Some(a)
    }
    pub fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    pub fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    pub fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// Bytes up to a NUL (consumed, not returned); all the rest if there is none.
    pub fn nul_str(&mut self) -> &'a [u8] {
        match self.b.iter().position(|&c| c == 0) {
            Some(i) => {
                let s = &self.b[..i];
                self.b = &self.b[i + 1..];
                s
            }
            None => std::mem::take(&mut self.b),
        }
    }
    pub fn lenenc(&mut self) -> Option<u64> {
        match self.u8()? {
            n @ 0..=0xfa => Some(u64::from(n)),
            0xfc => self.u16().map(u64::from),
            0xfd => self
                .take(3)
                .map(|b| u64::from(b[0]) | u64::from(b[1]) << 8 | u64::from(b[2]) << 16),
            0xfe => self
                .take(8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]))),
            _ => None,
        }
    }
    pub fn lenenc_bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.lenenc()?).ok()?;
        self.take(n)
    }
}

pub fn put_lenenc(out: &mut BytesMut, n: u64) {
    match n {
        0..=0xfa => out.put_u8(n as u8),
        0xfb..=0xffff => {
            out.put_u8(0xfc);
            out.put_u16_le(n as u16);
        }
        0x1_0000..=0xff_ffff => {
            out.put_u8(0xfd);
            out.put_slice(&(n as u32).to_le_bytes()[..3]);
        }
        _ => {
            out.put_u8(0xfe);
            out.put_u64_le(n);
        }
    }
}

/// The server's greeting (Handshake v10).
#[derive(Debug, Clone)]
pub struct Greeting {
    pub version: Vec<u8>,
    pub connection_id: u32,
    /// 20 bytes.
    pub scramble: Vec<u8>,
    pub capabilities: u32,
    pub charset: u8,
    pub status: u16,
    pub plugin: Vec<u8>,
}

impl Greeting {
    pub fn parse(payload: &[u8]) -> Option<Greeting> {
        let mut r = Reader::new(payload);
        if r.u8()? != 10 {
            return None;
        }
        let version = r.nul_str().to_vec();
        let connection_id = r.u32()?;
        let mut scramble = r.take(8)?.to_vec();
        r.u8()?;
        let low = u32::from(r.u16()?);
        let charset = r.u8()?;
        let status = r.u16()?;
        let high = u32::from(r.u16()?);
        let capabilities = low | high << 16;
        let auth_len = usize::from(r.u8()?);
        r.take(10)?;
        if capabilities & cap::SECURE_CONNECTION != 0 {
            let n = auth_len.saturating_sub(8).max(13) - 1;
            scramble.extend_from_slice(r.take(n)?);
            r.u8();
        }
        let plugin = if capabilities & cap::PLUGIN_AUTH != 0 {
            r.nul_str().to_vec()
        } else {
            b"mysql_native_password".to_vec()
        };
        Some(Greeting {
            version,
            connection_id,
            scramble,
            capabilities,
            charset,
            status,
            plugin,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut p = BytesMut::with_capacity(96);
        p.put_u8(10);
        p.put_slice(&self.version);
        p.put_u8(0);
        p.put_u32_le(self.connection_id);
        p.put_slice(&self.scramble[..8]);
        p.put_u8(0);
        p.put_u16_le(self.capabilities as u16);
        p.put_u8(self.charset);
        p.put_u16_le(self.status);
        p.put_u16_le((self.capabilities >> 16) as u16);
        p.put_u8(self.scramble.len() as u8 + 1);
        p.put_slice(&[0; 10]);
        p.put_slice(&self.scramble[8..]);
        p.put_u8(0);
        p.put_slice(&self.plugin);
        p.put_u8(0);
        p.to_vec()
    }
}

/// A client's HandshakeResponse41 (or the SSLRequest that precedes it, which has no user).
#[derive(Debug, Clone, Default)]
pub struct HandshakeResponse {
    pub capabilities: u32,
    pub max_packet: u32,
    pub charset: u8,
    pub user: Vec<u8>,
    pub auth: Vec<u8>,
    pub database: Option<Vec<u8>>,
    pub plugin: Vec<u8>,
}

/// The length of an SSLRequest payload.
pub const SSL_REQUEST_LEN: usize = 32;

impl HandshakeResponse {
    pub fn parse(payload: &[u8]) -> Option<HandshakeResponse> {
        let mut r = Reader::new(payload);
        let capabilities = r.u32()?;
        if capabilities & cap::PROTOCOL_41 == 0 {
            return None;
        }
        let max_packet = r.u32()?;
        let charset = r.u8()?;
        r.take(23)?;
        let mut h = HandshakeResponse {
            capabilities,
            max_packet,
            charset,
            ..Default::default()
        };
        if r.rest().is_empty() {
            return Some(h);
        }
        h.user = r.nul_str().to_vec();
        h.auth = if capabilities & cap::PLUGIN_AUTH_LENENC != 0 {
            r.lenenc_bytes()?.to_vec()
        } else if capabilities & cap::SECURE_CONNECTION != 0 {
            let n = usize::from(r.u8()?);
            r.take(n)?.to_vec()
        } else {
            r.nul_str().to_vec()
        };
        if capabilities & cap::CONNECT_WITH_DB != 0 {
            let db = r.nul_str();
            h.database = (!db.is_empty()).then(|| db.to_vec());
        }
        if capabilities & cap::PLUGIN_AUTH != 0 {
            h.plugin = r.nul_str().to_vec();
        }
        Some(h)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut p = BytesMut::with_capacity(128);
        p.put_u32_le(self.capabilities);
        p.put_u32_le(self.max_packet);
        p.put_u8(self.charset);
        p.put_slice(&[0; 23]);
        p.put_slice(&self.user);
        p.put_u8(0);
        put_lenenc(&mut p, self.auth.len() as u64);
        p.put_slice(&self.auth);
        if let Some(db) = &self.database {
            p.put_slice(db);
            p.put_u8(0);
        }
        p.put_slice(&self.plugin);
        p.put_u8(0);
        p.to_vec()
    }
}

#[cfg(test)]
#[path = "tests_wire.rs"]
mod tests;
