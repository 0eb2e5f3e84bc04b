//! Sessions of masked subjects: every statement is rewritten so that protected relations are
//! read through masking subqueries (mask before evaluate), or refused; every message that comes
//! back and can carry data — rows, errors and notices, notifications, COPY data, parameter
//! reports — then passes the content detectors and loses any key material (the second line).

use crate::codec::backend::{self, Severity};
use crate::codec::HEADER_LEN;
use crate::guard::{Protocol, StatementPolicy, Verdict};
use crate::results::{ResultFilter, UNCHECKABLE};
use crate::statements::Refusal;
use bytes::BytesMut;
use jitgate_masking::{
    rewrite_data_row, scrub_error_fields, ColumnAction, ColumnPlan, MaskedView, PgTypeInfo,
};
use jitgate_pg_sql::{
    Catalog, ColumnMasks, MaskSql, ProtectedColumn, RewriteCache, SearchPath, SearchPathChange,
};
use std::sync::Arc;

/// A subject's masks, as the rewriter asks for them.
pub struct SubjectMasks {
    pub view: MaskedView,
}

impl ColumnMasks for SubjectMasks {
    fn mask_sql(&self, column: &ProtectedColumn<'_>) -> MaskSql {
        match self
            .view
            .mask_for(column.schema, column.table, column.column)
        {
            None => MaskSql::Clear,
            Some(mask) => {
                let ty = PgTypeInfo::new(column.base_type_oid, column.base_type_name);
                match mask.sql_expr(column.column_sql, &ty, self.view.key()) {
                    Ok(sql) => MaskSql::Expr(sql),
                    Err(e) => MaskSql::Unavailable(e.to_string()),
                }
            }
        }
    }

    fn exact_in_results(&self, column: &ProtectedColumn<'_>) -> bool {
        let ty = PgTypeInfo::new(column.base_type_oid, column.base_type_name);
        self.view
            .mask_for(column.schema, column.table, column.column)
            .is_some_and(|mask| mask.exact_in_stream(&ty))
    }

    fn masks_by_content(&self, column: &ProtectedColumn<'_>) -> bool {
        let mask = self
            .view
            .mask_for(column.schema, column.table, column.column);
        matches!(mask, Some(jitgate_masking::Mask::Scan))
    }

    fn may_protect(&self, schema: Option<&str>, table: &str) -> bool {
        match schema {
            Some(schema) => self.view.may_protect(schema, table),
            // A name unknown to the catalog snapshot, in no particular schema: it could resolve,
            // upstream, to a protected relation in any schema on the session's path. Fail closed.
            None => true,
        }
    }
}

/// The statement side of a masked session.
pub struct MaskedStatements {
    pub masks: SubjectMasks,
    /// Identifies this subject's view in the shared rewrite cache.
    pub view_id: u64,
    pub catalog: Arc<Catalog>,
    pub search_path: SearchPath,
    /// The path at login, for `RESET search_path`.
    pub initial_search_path: SearchPath,
    /// The upstream session user, which `"$user"` in a path stands for.
    pub upstream_user: String,
    pub cache: Arc<RewriteCache>,
    /// A read-only grant on top of masking: its check runs on the statement as sent.
    pub read_only: Option<crate::checks::ReadOnly>,
}

impl StatementPolicy for MaskedStatements {
    fn check(&mut self, sql: &str, protocol: Protocol) -> Verdict {
        if let Some(read_only) = &mut self.read_only {
            if let refused @ Verdict::Refuse(_) = read_only.check(sql, protocol) {
                return refused;
            }
        }
        let outcome = self.cache.rewrite(
            sql,
            &self.catalog,
            &self.search_path,
            &self.masks,
            self.view_id,
            protocol,
        );
        if let Ok(r) = &*outcome {
            // Followed as sent (a SET that then fails upstream is rare, and a stale path only
            // ever refuses or masks too much: resolved names are schema-qualified).
            match &r.search_path_change {
                Some(SearchPathChange::Set(path)) => {
                    self.search_path = SearchPath::parse(path, &self.upstream_user)
                }
                Some(SearchPathChange::Reset) => {
                    self.search_path = self.initial_search_path.clone()
                }
                None => {}
            }
        }
        match &*outcome {
            Ok(r) if r.changed => Verdict::Rewrite(r.sql.clone()),
            Ok(_) => Verdict::Pass,
            Err(refusal) => Verdict::Refuse(Refusal {
                sqlstate: sqlstate_bytes(refusal.sqlstate),
                message: format!("jitgate: {}", refusal.message),
                kind: "masking.refused",
            }),
        }
    }
}

/// SQLSTATE text as the five bytes of the wire format.
pub fn sqlstate_bytes(code: &str) -> [u8; 5] {
    let mut out = [b'0'; 5];
    for (slot, b) in out.iter_mut().zip(code.bytes()) {
        *slot = b;
    }
    out
}

/// The result side of a masked session: computed columns are scanned by the detectors, columns
/// that still come straight from a protected table column are masked here, errors and notices
/// are scrubbed (LOG and DEBUG notices, which echo statements and plans, are dropped), the
/// payloads of notifications, the values of parameter reports and the rows of `COPY … TO
/// STDOUT` are scanned, and key material is blotted out of all of them.
pub struct StreamFilter {
    pub view: MaskedView,
    pub catalog: Arc<Catalog>,
    /// The plan for the rows that follow the last RowDescription; `None` before any (or when
    /// it could not be read), when no row may pass.
    plan: Option<Vec<ColumnPlan>>,
    copy_out: CopyOut,
    /// (upstream backend, the client's view of it): see [`ResultFilter::backend_pids`].
    pids: Option<(i32, i32)>,
    scratch: Vec<u8>,
}

/// Where a `COPY … TO STDOUT` stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CopyOut {
    /// No COPY out, or one in text or CSV format: its rows are scanned.
    Text,
    /// A binary COPY out, refused: its data, CopyDone and CommandComplete are dropped.
    Refused,
}

/// The notices a masked session receives. LOG and DEBUG notices exist to echo what the server
/// does — statements (`log_statement`), parse trees and plans (`debug_print_*`), with the key
/// material of rewritten statements in spellings no blotting can follow — and are dropped, as
/// is a notice that does not say its (non-localized) severity.
const NOTICE_SEVERITIES: &[&[u8]] = &[b"NOTICE", b"WARNING", b"INFO"];

/// Whether a NoticeResponse body is of a severity a masked session receives.
pub fn notice_is_delivered(body: &[u8]) -> bool {
    backend::fields(body)
        .find(|&(code, _)| code == b'V')
        .is_some_and(|(_, v)| NOTICE_SEVERITIES.contains(&v))
}

impl StreamFilter {
    pub fn new(view: MaskedView, catalog: Arc<Catalog>) -> StreamFilter {
        StreamFilter {
            view,
            catalog,
            plan: None,
            copy_out: CopyOut::Text,
            pids: None,
            scratch: Vec::new(),
        }
    }

    /// Appends `text` to the scratch buffer with findings of the detectors replaced.
    fn scan_into_scratch(&mut self, text: &[u8]) {
        self.view.scanner().redact_into(text, &mut self.scratch);
    }

    /// Writes the scratch buffer, its key material blotted, as the body of a `tag` message.
    fn emit_scratch(&mut self, tag: u8, out: &mut BytesMut) {
        self.view.key().blot(&mut self.scratch);
        backend::message(out, tag, |b| b.extend_from_slice(&self.scratch));
    }

    /// NotificationResponse: process id, channel, payload. Both texts are scanned; the
    /// sender's process id is the client's own when the session sent it, else 0 (another
    /// subject's backend is not the masked subject's to know).
    fn notification(&mut self, body: &[u8], out: &mut BytesMut) -> bool {
        let Some((pid, rest)) = body.split_first_chunk::<4>() else {
            return false;
        };
        let Some((channel, payload)) = two_cstrs(rest) else {
            return false;
        };
        let sender = match self.pids {
            Some((upstream, client)) if i32::from_be_bytes(*pid) == upstream => client,
            _ => 0,
        };
        self.scratch.clear();
        self.scratch.extend_from_slice(&sender.to_be_bytes());
        self.scan_into_scratch(channel);
        self.scratch.push(0);
        self.scan_into_scratch(payload);
        self.scratch.push(0);
        self.emit_scratch(b'A', out);
        true
    }

    /// ParameterStatus: a name and a value the subject may have set (`application_name`).
    fn parameter_status(&mut self, body: &[u8], out: &mut BytesMut) -> bool {
        let Some((name, value)) = two_cstrs(body) else {
            return false;
        };
        self.scratch.clear();
        self.scratch.extend_from_slice(name);
        self.scratch.push(0);
        self.scan_into_scratch(value);
        self.scratch.push(0);
        self.emit_scratch(b'S', out);
        true
    }

    /// CopyOutResponse: text and CSV rows can be scanned, binary ones cannot and are refused
    /// with an error in place of the COPY (the statement's result).
    fn copy_out_response(&mut self, msg: &[u8], out: &mut BytesMut) -> bool {
        match msg.get(HEADER_LEN) {
            Some(0) => {
                self.copy_out = CopyOut::Text;
                out.extend_from_slice(msg);
            }
            Some(_) => {
                self.copy_out = CopyOut::Refused;
                backend::error_response(
                    out,
                    Severity::Error,
                    "0A000",
                    "jitgate: binary COPY output cannot be scanned for masked sessions; use the text or CSV format",
                );
            }
            None => return false,
        }
        true
    }

    /// CopyData of a COPY out: one row, scanned as text.
    fn copy_data(&mut self, msg: &[u8], out: &mut BytesMut) -> bool {
        if self.copy_out == CopyOut::Refused {
            return true;
        }
        self.scratch.clear();
        self.scan_into_scratch(&msg[HEADER_LEN..]);
        self.emit_scratch(b'd', out);
        true
    }

    /// CopyDone and CommandComplete: dropped after a refused COPY, which they would report.
    fn copy_end(&mut self, tag: u8, msg: &[u8], out: &mut BytesMut) {
        if self.copy_out == CopyOut::Refused {
            if tag == b'C' {
                self.copy_out = CopyOut::Text;
            }
            return;
        }
        out.extend_from_slice(msg);
    }

    fn column_action(&self, table_oid: u32, attnum: i16, ty: &PgTypeInfo) -> ColumnAction {
        if table_oid != 0 {
            let origin = self.catalog.relation_by_oid(table_oid).and_then(|rel| {
                let column = rel.columns.iter().find(|c| c.attnum == attnum)?;
                self.view
                    .mask_for(&rel.schema, &rel.name, &column.name)
                    .cloned()
            });
            if let Some(mask) = origin {
                return ColumnAction::Mask(mask);
            }
            // A clear column of a table: its values are what the policy lets this subject see.
            if !ty.is_textual() {
                return ColumnAction::Pass;
            }
        }
        ColumnAction::Scan
    }
}

impl ResultFilter for StreamFilter {
    fn row_description(&mut self, msg: &[u8]) {
        self.plan = parse_row_description(&msg[5..]).map(|fields| {
            fields
                .into_iter()
                .map(|f| {
                    let ty = PgTypeInfo::from_oid(f.type_oid);
                    ColumnPlan {
                        action: self.column_action(f.table_oid, f.attnum, &ty),
                        ty,
                        binary: f.format == 1,
                    }
                })
                .collect()
        });
    }

    fn data_row(&mut self, msg: &[u8], out: &mut BytesMut) -> bool {
        let body = &msg[5..];
        // Rows are shown only with their own description (see `crate::portals`); one that
        // still comes without it, or with another number of columns, is not guessed at: a
        // column read clear for masking here would pass as it is.
        let Some(plan) = self.plan.as_deref() else {
            tracing::warn!("ending a masked session: a row without a description");
            return false;
        };
        self.scratch.clear();
        match rewrite_data_row(
            body,
            plan,
            self.view.key(),
            self.view.scanner(),
            &mut self.scratch,
        ) {
            Ok(()) => {
                self.view.key().blot(&mut self.scratch);
                out.extend_from_slice(&self.scratch);
                true
            }
            Err(e) => {
                tracing::warn!("ending a masked session: {e}");
                false
            }
        }
    }

    fn error_or_notice(&mut self, msg: &[u8], out: &mut BytesMut) {
        let body = &msg[HEADER_LEN..];
        if msg[0] == b'N' && !notice_is_delivered(body) {
            return;
        }
        if msg[0] == b'E' && self.copy_out == CopyOut::Refused {
            // The refused COPY failed after all: its CopyDone and CommandComplete never come.
            self.copy_out = CopyOut::Text;
        }
        self.scratch.clear();
        scrub_error_fields(body, self.view.scanner(), &mut self.scratch);
        self.emit_scratch(msg[0], out);
    }

    fn backend_pids(&mut self, upstream: i32, client: i32) {
        self.pids = Some((upstream, client));
    }

    fn data_message(&mut self, tag: u8, msg: &[u8], out: &mut BytesMut) -> bool {
        let body = &msg[HEADER_LEN..];
        let filtered = match tag {
            b'A' => self.notification(body, out),
            b'S' => self.parameter_status(body, out),
            b'H' => self.copy_out_response(msg, out),
            b'd' => self.copy_data(msg, out),
            b'c' | b'C' => {
                self.copy_end(tag, msg, out);
                true
            }
            _ => false,
        };
        if !filtered {
            tracing::warn!(
                "ending a masked session: a {:?} message it cannot filter",
                tag as char
            );
            backend::error_response(out, Severity::Fatal, "08P01", UNCHECKABLE);
        }
        filtered
    }
}

/// Two NUL-terminated strings filling `body`, or `None` when it is malformed.
fn two_cstrs(body: &[u8]) -> Option<(&[u8], &[u8])> {
    let first = memchr_nul(body)?;
    let rest = &body[first + 1..];
    let second = memchr_nul(rest)?;
    Some((&body[..first], &rest[..second]))
}

fn memchr_nul(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == 0)
}

struct Field {
    table_oid: u32,
    attnum: i16,
    type_oid: u32,
    format: i16,
}

fn parse_row_description(body: &[u8]) -> Option<Vec<Field>> {
    let count = i16::from_be_bytes(body.get(..2)?.try_into().ok()?).max(0) as usize;
    let mut at = 2;
    let mut fields = Vec::with_capacity(count);
    for _ in 0..count {
        let name_len = body.get(at..)?.iter().position(|&b| b == 0)?;
        at += name_len + 1;
        let f = body.get(at..at + 18)?;
        fields.push(Field {
            table_oid: u32::from_be_bytes(f[0..4].try_into().ok()?),
            attnum: i16::from_be_bytes(f[4..6].try_into().ok()?),
            type_oid: u32::from_be_bytes(f[6..10].try_into().ok()?),
            format: i16::from_be_bytes(f[16..18].try_into().ok()?),
        });
        at += 18;
    }
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jitgate_masking::{
        ColumnPattern, Glob, Mask, MaskKey, MaskingPolicy, MaskingRule, PolicySettings, SubjectView,
    };

    const SECRET: &[u8] = b"a-masking-key-of-enough-length-0123456789";

    fn key() -> MaskKey {
        MaskKey::new(SECRET, "test").expect("key")
    }

    fn filter() -> StreamFilter {
        let policy = MaskingPolicy::from_config(PolicySettings {
            key: key(),
            clear_groups: Vec::new(),
            rules: vec![MaskingRule {
                resource: Glob::new("app").expect("glob"),
                column: ColumnPattern::parse("public.customers.card").expect("pattern"),
                mask: Mask::Tokenize,
                clear_for: Vec::new(),
            }],
            custom_detectors: Vec::new(),
            stream_detectors: None,
        })
        .expect("policy");
        let SubjectView::Masked(view) = policy.view_for("app", "alice", &[]) else {
            panic!("alice is masked");
        };
        StreamFilter::new(view, Arc::new(Catalog::default()))
    }

    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    /// The well-framed messages in `out`, as (tag, body).
    fn messages(out: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut rest = out;
        let mut all = Vec::new();
        while !rest.is_empty() {
            let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
            all.push((rest[0], rest[5..1 + len].to_vec()));
            rest = &rest[1 + len..];
        }
        all
    }

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    /// The pad hex a keyed mask's SQL carries for this key.
    fn pad_hex() -> String {
        let sql = Mask::Tokenize
            .sql_expr("card", &PgTypeInfo::from_oid(25), &key())
            .expect("tokenize sql");
        let start = sql.find("decode('").expect("a pad") + "decode('".len();
        sql[start..start + 128].to_string()
    }

    fn notice(severity: &str, message: &str) -> Vec<u8> {
        let body = format!("S{severity}\0V{severity}\0C00000\0M{message}\0\0");
        msg(b'N', body.as_bytes())
    }

    #[test]
    fn notifications_are_scanned_and_keep_their_frame() {
        let mut f = filter();
        f.backend_pids(4242, 77);
        let mut out = BytesMut::new();
        let mut body = 5151i32.to_be_bytes().to_vec();
        body.extend_from_slice(b"leads\0ssn 123-45-6789 for ann@example.com\0");
        assert!(f.data_message(b'A', &msg(b'A', &body), &mut out));
        let got = messages(&out);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, b'A');
        // Another backend's process id is not passed on.
        assert_eq!(&got[0].1[..4], &0i32.to_be_bytes());
        assert_eq!(text(&got[0].1[4..]), "leads\0ssn [ssn] for [email]\0");
        // The session's own notification names the process id the client was given.
        out.clear();
        let mut own = 4242i32.to_be_bytes().to_vec();
        own.extend_from_slice(b"leads\0hi\0");
        assert!(f.data_message(b'A', &msg(b'A', &own), &mut out));
        assert_eq!(&messages(&out)[0].1[..4], &77i32.to_be_bytes());
    }

    #[test]
    fn parameter_reports_are_scanned() {
        let mut f = filter();
        let mut out = BytesMut::new();
        let report = msg(b'S', b"application_name\x00123-45-6789\0");
        assert!(f.data_message(b'S', &report, &mut out));
        assert_eq!(
            messages(&out),
            vec![(b'S', b"application_name\0[ssn]\0".to_vec())]
        );
        // Malformed: the session ends, and the client is told.
        out.clear();
        assert!(!f.data_message(b'S', &msg(b'S', b"application_name"), &mut out));
        assert_eq!(messages(&out)[0].0, b'E');
    }

    #[test]
    fn text_copy_rows_are_scanned_and_binary_copy_is_refused_whole() {
        let mut f = filter();
        let mut out = BytesMut::new();
        // COPY … TO STDOUT (FORMAT csv): overall format 0.
        assert!(f.data_message(b'H', &msg(b'H', &[0, 0, 1, 0, 0]), &mut out));
        assert!(f.data_message(b'd', &msg(b'd', b"1,\"SSN 123-45-6789\"\n"), &mut out));
        assert!(f.data_message(b'c', &msg(b'c', b""), &mut out));
        assert!(f.data_message(b'C', &msg(b'C', b"COPY 1\0"), &mut out));
        let got = messages(&out);
        assert_eq!(
            got.iter().map(|m| m.0).collect::<Vec<_>>(),
            b"HdcC".to_vec()
        );
        assert_eq!(text(&got[1].1), "1,\"SSN [ssn]\"\n");

        // Binary: an error instead, and nothing of the COPY after it.
        out.clear();
        assert!(f.data_message(b'H', &msg(b'H', &[1, 0, 1, 0, 1]), &mut out));
        assert!(f.data_message(b'd', &msg(b'd', b"PGCOPY\n\xff\r\n\0"), &mut out));
        assert!(f.data_message(b'c', &msg(b'c', b""), &mut out));
        assert!(f.data_message(b'C', &msg(b'C', b"COPY 1\0"), &mut out));
        let got = messages(&out);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, b'E');
        assert!(text(&got[0].1).contains("C0A000"));
        // The next statement's results flow again.
        out.clear();
        assert!(f.data_message(b'C', &msg(b'C', b"SELECT 1\0"), &mut out));
        assert_eq!(messages(&out), vec![(b'C', b"SELECT 1\0".to_vec())]);
    }

    #[test]
    fn log_and_debug_notices_are_dropped_others_scrubbed() {
        let mut f = filter();
        let mut out = BytesMut::new();
        for severity in ["LOG", "DEBUG1", "DEBUG5"] {
            f.error_or_notice(&notice(severity, "statement: select 1"), &mut out);
        }
        // A notice without its non-localized severity is dropped too.
        f.error_or_notice(&msg(b'N', b"SLOG\0Mparse tree:\0\0"), &mut out);
        assert!(out.is_empty());
        f.error_or_notice(&notice("NOTICE", "ssn 123-45-6789"), &mut out);
        f.error_or_notice(&notice("WARNING", "w"), &mut out);
        f.error_or_notice(&notice("INFO", "i"), &mut out);
        let got = messages(&out);
        assert_eq!(got.len(), 3);
        assert!(text(&got[0].1).contains("Mssn [ssn]\0"));
    }

    #[test]
    fn key_material_is_blotted_from_every_message_kind() {
        let pad = pad_hex();
        let key_half = &pad[..64];
        let mut f = filter();
        let mut out = BytesMut::new();
        // auto_explain at NOTICE level quoting the rewritten statement and its folded pad.
        let plan = format!(
            "duration: 0.011 ms  plan:\nQuery Text: select decode('{pad}', 'hex')\nOutput: '\\x{pad}'::bytea"
        );
        f.error_or_notice(&notice("NOTICE", &plan), &mut out);
        let error = format!(
            "C42883\0Mfunction f(bytea) does not exist\0qSELECT decode('{pad}', 'hex')\0\0"
        );
        f.error_or_notice(&msg(b'E', error.as_bytes()), &mut out);
        let mut body = 1i32.to_be_bytes().to_vec();
        body.extend_from_slice(format!("ch\0{key_half}\0").as_bytes());
        assert!(f.data_message(b'A', &msg(b'A', &body), &mut out));
        let report = format!("application_name\0{}\0", &key_half[..40]);
        assert!(f.data_message(b'S', &msg(b'S', report.as_bytes()), &mut out));
        assert!(f.data_message(b'd', &msg(b'd', format!("{pad}\n").as_bytes()), &mut out));
        // A computed text column (`current_query()`) quoting the statement.
        let row = format!("select decode('{pad}', 'hex')");
        let mut row_body = 1i16.to_be_bytes().to_vec();
        row_body.extend_from_slice(&(row.len() as i32).to_be_bytes());
        row_body.extend_from_slice(row.as_bytes());
        assert!(f.data_row(&msg(b'D', &row_body), &mut out));

        let got = messages(&out);
        assert_eq!(got.len(), 6, "every message delivered, framed");
        let all = text(&out);
        for piece in key_half.as_bytes().chunks(jitgate_masking::KEY_PIECE) {
            let piece = std::str::from_utf8(piece).expect("hex");
            if piece.len() == jitgate_masking::KEY_PIECE {
                assert!(!all.contains(piece), "{piece} leaked: {all}");
            }
        }
    }
}
