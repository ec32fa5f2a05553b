//! Tests of `questions`.

use super::*;

fn qa(id: &str, answer: &str) -> QuestionAnswer {
    QuestionAnswer {
        question_id: id.into(),
        answer: answer.into(),
    }
}

fn good_choice() -> Vec<QuestionAnswer> {
    vec![
        qa("mother-maiden-name", "Okafor"),
        qa("first-car", "Vauxhall Nova"),
        qa("childhood-phone", "(0121) 496 0000"),
        qa("first-pet", "Biscuit"),
    ]
}

#[test]
fn catalogue_has_twenty_unique_questions_including_the_staff_guides() {
    let mut ids: Vec<_> = CATALOGUE.iter().map(|q| q.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 20);
    for seed in [
        "Where were you on the turn of the millennium?",
        "What is your mother's maiden name?",
        "What was the make and model of your first car?",
        "What was your childhood phone number, including area code?",
    ] {
        assert!(CATALOGUE.iter().any(|q| q.text == seed), "{seed}");
    }
    assert!(CATALOGUE.iter().all(|q| !q.hint.is_empty()));
}

#[test]
fn text_answers_fold_case_width_and_spacing() {
    let n = |s| normalise_answer(AnswerKind::Text, s);
    assert_eq!(n("  Vauxhall   NOVA "), "vauxhall nova");
    assert_eq!(n("Vauxhall\tNova"), "vauxhall nova");
    assert_eq!(n("ＶＡＵＸＨＡＬＬ nova"), "vauxhall nova"); // full-width forms
    assert_eq!(n("STRASSE"), n("Straße"));
    assert_eq!(n("Ｏ’Brien"), "o’brien");
    // Accents are kept: they are part of the answer.
    assert_ne!(n("Zoë"), n("Zoe"));
    assert_eq!(n("Zoe\u{308}"), n("ZOË")); // combining vs precomposed
}

#[test]
fn phone_answers_keep_digits_only() {
    assert_eq!(
        normalise_answer(AnswerKind::PhoneNumber, "(0121) 496-0000"),
        "01214960000"
    );
    assert_eq!(
        normalise_answer(AnswerKind::PhoneNumber, "０１２１ ４９６"),
        "0121496"
    );
}

#[test]
fn a_good_choice_is_normalised_and_versioned() {
    let answers = check_registration_choice(&good_choice()).expect("accepted");
    assert_eq!(answers.len(), 4);
    assert_eq!(answers[2].value, "01214960000");
    assert!(answers
        .iter()
        .all(|a| a.version == ANSWER_NORMALISATION_VERSION));
}

#[test]
fn fewer_or_more_than_four_questions_are_refused() {
    let mut three = good_choice();
    three.pop();
    assert_eq!(
        check_registration_choice(&three),
        Err(ChoiceRejection::WrongCount {
            expected: 4,
            got: 3
        })
    );
    let mut five = good_choice();
    five.push(qa("first-concert", "Oasis"));
    assert_eq!(
        check_registration_choice(&five),
        Err(ChoiceRejection::WrongCount {
            expected: 4,
            got: 5
        })
    );
}

#[test]
fn duplicate_and_unknown_questions_are_refused() {
    let mut choice = good_choice();
    choice[3] = qa("first-car", "Ford Escort");
    assert_eq!(
        check_registration_choice(&choice),
        Err(ChoiceRejection::DuplicateQuestion { index: 3 })
    );
    choice[3] = qa("favourite-colour", "Blue");
    assert_eq!(
        check_registration_choice(&choice),
        Err(ChoiceRejection::UnknownQuestion { index: 3 })
    );
}

#[test]
fn blank_short_and_trivial_answers_are_refused() {
    let cases = [
        ("   ", AnswerRejection::Blank),
        ("", AnswerRejection::Blank),
        ("x", AnswerRejection::TooShort { min: 2 }),
        ("N/A", AnswerRejection::TooEasyToGuess),
        ("aaaa", AnswerRejection::TooEasyToGuess),
    ];
    for (answer, reason) in cases {
        let mut choice = good_choice();
        choice[1] = qa("first-car", answer);
        assert_eq!(
            check_registration_choice(&choice),
            Err(ChoiceRejection::Answer { index: 1, reason }),
            "{answer:?}"
        );
    }
    let mut choice = good_choice();
    choice[2] = qa("childhood-phone", "no phone");
    assert_eq!(
        check_registration_choice(&choice),
        Err(ChoiceRejection::Answer {
            index: 2,
            reason: AnswerRejection::TooFewDigits { min: 6 }
        })
    );
}

#[test]
fn the_same_answer_twice_is_refused() {
    let mut choice = good_choice();
    choice[3] = qa("first-pet", "  okafor ");
    assert_eq!(
        check_registration_choice(&choice),
        Err(ChoiceRejection::RepeatedAnswer { index: 3 })
    );
}
