//! `change-passcode`: old to new on an unlocked card, after checking the new one against the
//! effective rule.

use selfservice_rules::protocol::{ChangePasscodeParams, ChangePasscodeResult};

use super::{open_card, Host};
use crate::errors::CommandError;
use crate::piv::{CardError, Piv};
use crate::readers::Cancel;

pub fn run(
    host: &Host,
    params: &ChangePasscodeParams,
    cancel: &Cancel,
) -> Result<ChangePasscodeResult, CommandError> {
    let mut card = open_card(
        host,
        params.reader.as_deref(),
        params.wait_for_card_ms,
        cancel,
    )?;
    let rule = host.check_new_passcode(&card.profile, params.new_passcode.expose())?;
    let retries = card.connection.transaction(|t| {
        Piv::select(t)?;
        // Some cards count a changed PIN as verified: log out before reading the counter.
        Piv::then_logout(t, |t| {
            Piv::change_pin(
                t,
                params.old_passcode.expose(),
                params.new_passcode.expose(),
            )
        })?;
        Piv::pin_state(t)
    });
    let retries = match retries {
        Err(CardError::RejectedByCard) => return Err(CommandError::PolicyViolation { rule }),
        other => other?,
    };
    Ok(ChangePasscodeResult {
        passcode: super::passcode_state(retries),
    })
}
