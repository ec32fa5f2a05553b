//! `find-card`: the card a journey works with, chosen as every card command chooses it (the
//! reader asked for, or the only one holding a card), waiting for one when asked to. The
//! pages ask this instead of choosing from `status` themselves, so the choice and its errors
//! live here once.

use selfservice_rules::protocol::{CardInReader, FindCardParams};

use super::{status, wait_limit, Host};
use crate::errors::CommandError;
use crate::readers::Cancel;

pub fn run(
    host: &Host,
    params: &FindCardParams,
    cancel: &Cancel,
) -> Result<CardInReader, CommandError> {
    let reader = host.pcsc.choose(
        params.reader.as_deref(),
        wait_limit(params.wait_for_card_ms),
        cancel,
    )?;
    let card = status::card_now(host, &reader)?;
    Ok(CardInReader {
        reader: reader.display_name(),
        card,
    })
}
