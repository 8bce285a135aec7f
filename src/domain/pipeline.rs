//! The application pipeline's transition rules, as the client contract states them.

use super::ApplicationStage as S;

/// Who asks for a move: producers move applications; the talent may only withdraw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mover {
    Producer,
    Talent,
}

/// Why a move is not allowed, in words a client can show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoveRejected {
    #[error("an application cannot move from {from} to {to}")]
    NotAllowed { from: S, to: S },
    #[error(
        "a rejected application can only be restored to {previous}, the stage it was rejected from"
    )]
    UndoToOtherStage { previous: S },
    #[error("only the talent can withdraw an application")]
    WithdrawIsTalentOnly,
    #[error("the talent can only withdraw an application")]
    TalentCanOnlyWithdraw,
}

/// Checks one move. `rejected_from` is the stage a REJECTED application was rejected from.
pub fn check_move(
    from: S,
    to: S,
    rejected_from: Option<S>,
    mover: Mover,
) -> Result<(), MoveRejected> {
    match mover {
        Mover::Talent => {
            if to != S::Withdrawn {
                return Err(MoveRejected::TalentCanOnlyWithdraw);
            }
            if matches!(from, S::Hired | S::Rejected | S::Withdrawn) {
                return Err(MoveRejected::NotAllowed { from, to });
            }
            Ok(())
        }
        Mover::Producer => {
            if to == S::Withdrawn {
                return Err(MoveRejected::WithdrawIsTalentOnly);
            }
            let allowed = match from {
                S::Applied => matches!(to, S::Shortlisted | S::Rejected),
                S::Shortlisted => {
                    matches!(to, S::Audition | S::Callback | S::Offered | S::Rejected)
                }
                S::Audition => matches!(to, S::Callback | S::Offered | S::Rejected),
                S::Callback => matches!(to, S::Callback | S::Offered | S::Rejected),
                S::Offered => matches!(to, S::Hired | S::Rejected),
                S::Rejected => {
                    return match rejected_from {
                        Some(previous) if previous == to => Ok(()),
                        Some(previous) => Err(MoveRejected::UndoToOtherStage { previous }),
                        None => Err(MoveRejected::NotAllowed { from, to }),
                    }
                }
                S::Hired | S::Withdrawn => false,
            };
            if allowed {
                Ok(())
            } else {
                Err(MoveRejected::NotAllowed { from, to })
            }
        }
    }
}

/// The `rejected_from` to store after a move: set when rejecting, cleared otherwise.
pub fn rejected_from_after(from: S, to: S) -> Option<S> {
    (to == S::Rejected).then_some(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRODUCER_MOVES: &[(S, &[S])] = &[
        (S::Applied, &[S::Shortlisted, S::Rejected]),
        (
            S::Shortlisted,
            &[S::Audition, S::Callback, S::Offered, S::Rejected],
        ),
        (S::Audition, &[S::Callback, S::Offered, S::Rejected]),
        (S::Callback, &[S::Callback, S::Offered, S::Rejected]),
        (S::Offered, &[S::Hired, S::Rejected]),
        (S::Hired, &[]),
        (S::Withdrawn, &[]),
    ];

    #[test]
    fn producer_moves_follow_the_contract_table_exactly() {
        for (from, allowed) in PRODUCER_MOVES {
            for to in S::ALL {
                let result = check_move(*from, *to, None, Mover::Producer);
                assert_eq!(
                    result.is_ok(),
                    allowed.contains(to),
                    "{from} -> {to} should be {}",
                    if allowed.contains(to) {
                        "allowed"
                    } else {
                        "refused"
                    }
                );
            }
        }
    }

    #[test]
    fn a_rejection_can_be_undone_only_to_the_stage_it_came_from() {
        for previous in [
            S::Applied,
            S::Shortlisted,
            S::Audition,
            S::Callback,
            S::Offered,
        ] {
            for to in S::ALL {
                let result = check_move(S::Rejected, *to, Some(previous), Mover::Producer);
                assert_eq!(result.is_ok(), *to == previous, "undo {previous} -> {to}");
            }
        }
        assert!(check_move(S::Rejected, S::Applied, None, Mover::Producer).is_err());
    }

    #[test]
    fn only_the_talent_withdraws_and_only_from_a_live_stage() {
        for from in S::ALL {
            let live = !matches!(from, S::Hired | S::Rejected | S::Withdrawn);
            assert_eq!(
                check_move(*from, S::Withdrawn, None, Mover::Talent).is_ok(),
                live
            );
            assert_eq!(
                check_move(*from, S::Withdrawn, None, Mover::Producer),
                Err(MoveRejected::WithdrawIsTalentOnly)
            );
        }
        assert_eq!(
            check_move(S::Applied, S::Shortlisted, None, Mover::Talent),
            Err(MoveRejected::TalentCanOnlyWithdraw)
        );
    }

    #[test]
    fn rejecting_remembers_the_stage_and_anything_else_forgets_it() {
        assert_eq!(
            rejected_from_after(S::Audition, S::Rejected),
            Some(S::Audition)
        );
        assert_eq!(rejected_from_after(S::Rejected, S::Audition), None);
        assert_eq!(rejected_from_after(S::Applied, S::Shortlisted), None);
    }
}
