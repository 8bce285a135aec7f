//! Relay cursor connections with `totalCount`, and the page arguments every list takes.

use crate::db::page::{Cursor, Page, PageRequest};
use crate::domain::page::{after, page_size, CursorKey};
use crate::errors::AppResult;
use async_graphql::SimpleObject;

#[derive(Debug, Clone, SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

/// Checks `first` and decodes `after` (see [`crate::domain::page`]).
pub fn page_request(first: Option<i32>, cursor: Option<String>) -> AppResult<PageRequest> {
    Ok(PageRequest {
        first: page_size(first)? as i64,
        after: after::<Cursor>(cursor.as_deref())?,
    })
}

/// Declares `XConnection` and `XEdge` for a node type.
macro_rules! connection {
    ($conn:ident, $edge:ident, $node:ty) => {
        #[derive(async_graphql::SimpleObject)]
        pub struct $edge {
            pub node: $node,
            pub cursor: String,
        }

        #[derive(async_graphql::SimpleObject)]
        pub struct $conn {
            pub edges: Vec<$edge>,
            pub page_info: $crate::graphql::connection::PageInfo,
            pub total_count: i32,
        }

        impl From<$crate::db::page::Page<$node>> for $conn {
            fn from(page: $crate::db::page::Page<$node>) -> Self {
                let (edges, page_info, total_count) = $crate::graphql::connection::parts(page);
                $conn {
                    edges: edges
                        .into_iter()
                        .map(|(cursor, node)| $edge { node, cursor })
                        .collect(),
                    page_info,
                    total_count,
                }
            }
        }
    };
}
pub(crate) use connection;

pub fn parts<T>(page: Page<T>) -> (Vec<(String, T)>, PageInfo, i32) {
    let end_cursor = page.items.last().map(|(c, _)| c.encode());
    let edges = page
        .items
        .into_iter()
        .map(|(c, t)| (c.encode(), t))
        .collect();
    (
        edges,
        PageInfo {
            has_next_page: page.has_next_page,
            end_cursor,
        },
        i32::try_from(page.total_count).unwrap_or(i32::MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_capped_and_cursors_checked() {
        assert!(page_request(Some(101), None).is_err());
        assert!(page_request(Some(-1), None).is_err());
        assert_eq!(page_request(None, None).map(|p| p.first).ok(), Some(20));
        assert_eq!(
            page_request(Some(100), None).map(|p| p.first).ok(),
            Some(100)
        );
        assert!(page_request(Some(5), Some("garbage".into())).is_err());
    }
}
