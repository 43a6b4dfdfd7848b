//! What to fetch: the orders to sync (named, or every one of the account), the jobs of a ready
//! order, deliverables given by id or URL, and waiting for an order to be fulfilled.

use std::time::{Duration, Instant};

use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use url::Url;
use wyvern_core::{Client, DeliverableId, Error as ApiError, Order, OrderId, OrderStatus, UnusableLink};

use crate::job::Job;
use crate::observer::Observer;
use crate::shard::Shard;
use crate::{Error, Result};

/// A deliverable given as an id, or as its URL on the API's origin (the token goes nowhere
/// else).
pub fn deliverable_id(client: &Client, target: &str) -> Result<DeliverableId> {
    let invalid = |message: String, hint: &str| Error::Invalid { message, hint: Some(hint.to_owned()) };
    if !target.starts_with("http://") && !target.starts_with("https://") {
        return target
            .parse()
            .map_err(|e: wyvern_core::InvalidId| invalid(e.to_string(), "give a deliverable id or its URL"));
    }
    let url = Url::parse(target)
        .map_err(|e| invalid(format!("invalid URL {target:?}: {e}"), "give a deliverable id or its URL"))?;
    if !client.is_api_origin(&url) {
        return Err(invalid(
            format!("{} is not on the API's origin {}", wyvern_core::redact_url(&url), client.base_url()),
            "the token is only sent to the API; set the API ({api}) this link belongs to",
        ));
    }
    DeliverableId::from_href(&url).map_err(|e| invalid(e.to_string(), "give a deliverable id or its URL"))
}

/// The orders to sync: `Some(ids)` fetches each, `None` lists every order the account can see,
/// a page at a time. The stream yields each order, or why it could not be had, as it comes,
/// `concurrency` fetched at once; a page of the listing that fails ends it with the error.
pub fn orders(
    client: &Client,
    ids: Option<Vec<OrderId>>,
    concurrency: usize,
) -> impl Stream<Item = Result<(OrderId, Result<Order>)>> + Send + '_ {
    let listed: BoxStream<'_, Result<(OrderId, Option<Order>)>> = match ids {
        Some(ids) => futures::stream::iter(ids.into_iter().map(|id| Ok((id, None)))).boxed(),
        None => client
            .order_pages()
            .map_ok(|page| futures::stream::iter(page.into_iter().map(|order| Ok((order.id.clone(), Some(order))))))
            .map_err(Error::from)
            .try_flatten()
            .boxed(),
    };
    listed
        .map_ok(move |(id, listed)| async move {
            let order = match listed {
                // A listed order with its links is used as listed; one without is fetched.
                Some(order) if !order.is_ready() || !order.deliverables().is_empty() => Ok(order),
                _ => client.order(&id).await.map_err(Error::from),
            };
            Ok((id, order))
        })
        .try_buffered(concurrency.max(1))
}

/// The jobs of a ready order: its usable deliverable links (of `shard`, when given), at
/// `<order_id>/<deliverable_id>.zip`. Links that cannot be used are reported to `observer` by
/// position; an order not ready is [`ErrorKind::NotReady`](crate::ErrorKind::NotReady), and one
/// with no usable link an error too.
pub fn order_jobs(order: &Order, shard: Option<Shard>, observer: &dyn Observer) -> Result<Vec<Job>> {
    if !order.is_ready() {
        return Err(Error::Api(ApiError::NotReady {
            order: order.id.to_string(),
            status: order.status.clone(),
            reason: order.reason_code.clone(),
        }));
    }
    let unusable: Vec<UnusableLink> = order.unusable_links();
    for link in &unusable {
        let href = link.href.as_deref().map_or_else(|| "-".to_owned(), |h| wyvern_core::printable(h).into_owned());
        observer
            .warn(&format!("order {}: deliverable link {} ({href}) skipped: {}", order.id, link.index, link.reason));
    }
    let deliverables = order.deliverables();
    if deliverables.is_empty() {
        return Err(Error::Api(ApiError::NoDeliverables { order: order.id.to_string(), unusable: unusable.len() }));
    }
    Ok(deliverables
        .into_iter()
        .filter(|d| shard.is_none_or(|s| s.includes(&d.id)))
        .map(|d| Job::of_order(order.id.clone(), d.id))
        .collect())
}

/// Polls `id` every `interval` until it is completed and fulfilled (returned), or can no longer
/// be, or `timeout` passes (both [`Error::Wait`], of kind
/// [`ErrorKind::NotReady`](crate::ErrorKind::NotReady)).
/// `changed` is called with the order each time its state changes.
pub async fn wait(
    client: &Client,
    id: &OrderId,
    interval: Duration,
    timeout: Option<Duration>,
    mut changed: impl FnMut(&Order),
) -> Result<Order> {
    let started = Instant::now();
    let mut last = None;
    loop {
        let order = client.order(id).await?;
        let state = (order.status.clone(), order.reason_code.clone());
        if last.as_ref() != Some(&state) {
            changed(&order);
            last = Some(state);
        }
        let completed = order.status == Some(OrderStatus::Completed);
        if order.is_ready() && completed {
            return Ok(order);
        }
        let not_ready = |waited: Option<Duration>| Error::Wait {
            waited,
            source: ApiError::NotReady {
                order: id.to_string(),
                status: order.status.clone(),
                reason: order.reason_code.clone(),
            },
        };
        if completed || order.status.as_ref().is_some_and(OrderStatus::is_final) {
            return Err(not_ready(None));
        }
        let remaining = timeout.map(|t| t.saturating_sub(started.elapsed()));
        if remaining == Some(Duration::ZERO) {
            return Err(not_ready(Some(Duration::from_secs(started.elapsed().as_secs()))));
        }
        tokio::time::sleep(remaining.map_or(interval, |r| r.min(interval))).await;
    }
}
