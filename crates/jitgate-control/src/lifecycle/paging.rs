//! Listings come in pages: at most `limit` rows after a cursor, and the cursor of the next page
//! when there may be more, so that no listing stops silently at a fixed number of rows.
//!
//! A page may draw on several store queries (a requester's own requests and the pending ones
//! they may decide) and drop rows the caller may not see. [`merge`] keeps it exact: each query
//! fetches one row more than the page, and when a query came back full, nothing past its last
//! row is returned (rows beyond it were not fetched), so the next page starts there.

use crate::store::Cursor;

/// Most rows one page holds (and the size of a page when the caller names none).
pub const MAX_PAGE: usize = super::LIST_LIMIT;

/// Which page of a listing to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Rows per page, 1 to [`MAX_PAGE`] (others are brought into that range).
    pub limit: usize,
    /// Start after this row; `None` for the first page.
    pub after: Option<Cursor>,
}

impl PageRequest {
    pub fn first() -> PageRequest {
        PageRequest {
            limit: MAX_PAGE,
            after: None,
        }
    }

    /// The limit brought into range.
    pub fn size(&self) -> usize {
        self.limit.clamp(1, MAX_PAGE)
    }

    /// How many rows each store query should fetch: one more than the page, to tell whether
    /// more follow.
    pub fn fetch(&self) -> usize {
        self.size() + 1
    }
}

/// One page of a listing, in listing order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

/// Rows one store query returned for a page (it was asked for [`PageRequest::fetch`] rows).
pub struct Fetched<T> {
    rows: Vec<T>,
    /// When the query came back full: its last row, past which nothing is known.
    cutoff: Option<Cursor>,
}

impl<T> Fetched<T> {
    pub fn new(rows: Vec<T>, page: &PageRequest, key: impl Fn(&T) -> Cursor) -> Fetched<T> {
        let cutoff = if rows.len() >= page.fetch() {
            rows.last().map(key)
        } else {
            None
        };
        Fetched { rows, cutoff }
    }

    /// Drops rows another query of the same page returns too; the cutoff stays.
    pub fn without(mut self, drop: impl Fn(&T) -> bool) -> Fetched<T> {
        self.rows.retain(|r| !drop(r));
        self
    }
}

/// One page from the rows of one or more queries (which must not overlap): the visible ones
/// (`keep`) in listing order, at most a page, none past the last row of a full query.
pub fn merge<T>(
    fetched: Vec<Fetched<T>>,
    page: &PageRequest,
    key: impl Fn(&T) -> Cursor,
    keep: impl Fn(&T) -> bool,
) -> Page<T> {
    let cutoff = fetched.iter().filter_map(|f| f.cutoff.clone()).min();
    let mut rows: Vec<T> = fetched
        .into_iter()
        .flat_map(|f| f.rows)
        .filter(|r| keep(r) && cutoff.as_ref().is_none_or(|c| key(r) <= *c))
        .collect();
    rows.sort_by_key(|r| key(r));
    let next = if rows.len() > page.size() {
        rows.truncate(page.size());
        rows.last().map(&key)
    } else {
        cutoff
    };
    Page { items: rows, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(at: i64, id: &str) -> Cursor {
        Cursor { at, id: id.into() }
    }

    /// Every row of `all` (newest first), read page by page as `merge` serves them from one
    /// query of `all` filtered by `keep`.
    fn read_all(all: &[Cursor], limit: usize, keep: impl Fn(&Cursor) -> bool) -> Vec<Vec<Cursor>> {
        let mut page = PageRequest { limit, after: None };
        let mut pages = Vec::new();
        loop {
            let rows: Vec<Cursor> = all
                .iter()
                .filter(|c| page.after.as_ref().is_none_or(|a| *c > a))
                .take(page.fetch())
                .cloned()
                .collect();
            let got = merge(
                vec![Fetched::new(rows, &page, Clone::clone)],
                &page,
                Clone::clone,
                &keep,
            );
            pages.push(got.items);
            match got.next {
                Some(next) => page.after = Some(next),
                None => return pages,
            }
        }
    }

    #[test]
    fn cursors_sort_newest_first_then_by_id() {
        assert!(at(5, "b") < at(4, "a"));
        assert!(at(5, "a") < at(5, "b"));
    }

    #[test]
    fn pages_cover_every_row_once_in_order() {
        let all: Vec<Cursor> = (0..25)
            .map(|i| at(100 - i / 3, &format!("r{i:02}")))
            .collect();
        let pages = read_all(&all, 7, |_| true);
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [7, 7, 7, 4]);
        assert_eq!(pages.concat(), all);
    }

    #[test]
    fn hidden_rows_never_make_a_page_skip_visible_ones() {
        let all: Vec<Cursor> = (0..40).map(|i| at(1000 - i, &format!("r{i:02}"))).collect();
        // Long runs the caller may not see, then visible rows: a page may come back short or
        // empty, but the walk goes on and sees every visible row exactly once.
        let keep = |c: &Cursor| c.at % 9 == 0 || c.at < 965;
        let pages = read_all(&all, 3, keep);
        let seen: Vec<Cursor> = pages.concat();
        let want: Vec<Cursor> = all.iter().filter(|c| keep(c)).cloned().collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn two_queries_merge_without_losing_the_older_rows_of_either() {
        let page = PageRequest {
            limit: 2,
            after: None,
        };
        // The second query is full and all hidden: nothing older than its last row may be
        // returned yet, or its unseen rows would be skipped.
        let own = Fetched::new(vec![at(10, "o1"), at(1, "o2")], &page, Clone::clone);
        let pending = Fetched::new(
            vec![at(9, "p1"), at(8, "p2"), at(7, "p3")],
            &page,
            Clone::clone,
        );
        let got = merge(vec![own, pending], &page, Clone::clone, |c| {
            c.id.starts_with('o')
        });
        assert_eq!(got.items, [at(10, "o1")]);
        assert_eq!(got.next, Some(at(7, "p3")));
    }

    #[test]
    fn a_short_last_page_has_no_next() {
        let page = PageRequest {
            limit: 5,
            after: None,
        };
        let got = merge(
            vec![Fetched::new(
                vec![at(3, "a"), at(2, "b")],
                &page,
                Clone::clone,
            )],
            &page,
            Clone::clone,
            |_| true,
        );
        assert_eq!(got.next, None);
        assert_eq!(got.items.len(), 2);
    }
}
