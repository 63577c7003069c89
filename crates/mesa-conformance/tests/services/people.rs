//! Staff accounts and sessions as a support lead and an agent meet them: an account is
//! added once, a password is checked and never kept in clear, a session lasts a working
//! day, signing out ends it everywhere, guessing locks the account for a while.

use chrono::Duration;
use mesa::desk::{DeskError, LOCK_FOR, MAX_FAILED_SIGN_INS, SessionError, SignInError};
use mesa::model::StaffRole;
use mesa::ports::StaffStore;

use crate::harness::harness;

const PASSWORD: &str = "correcto caballo batería";

#[tokio::test]
async fn a_lead_adds_an_agent_who_signs_in_with_the_password_and_not_another() {
    let h = harness();
    let m = h
        .desk
        .add_staff(
            "Luis@Ingressio.com",
            "Luis Soto",
            StaffRole::Agent,
            Some(PASSWORD),
        )
        .await
        .unwrap();
    assert_eq!(m.email, "luis@ingressio.com");
    let stored = h.store.staff("luis@ingressio.com").await.unwrap().unwrap();
    let hash = stored.password_hash.unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(PASSWORD));

    let s = h
        .desk
        .sign_in("LUIS@ingressio.com", PASSWORD)
        .await
        .unwrap();
    assert_eq!(s.member.email, "luis@ingressio.com");
    assert_eq!(
        h.desk.session(&s.token).await.unwrap().member.name,
        "Luis Soto"
    );
    assert!(matches!(
        h.desk
            .sign_in("luis@ingressio.com", "correcto caballo bateria")
            .await,
        Err(SignInError::Refused)
    ));
    assert!(matches!(
        h.desk.sign_in("nadie@ingressio.com", PASSWORD).await,
        Err(SignInError::Refused)
    ));
}

#[tokio::test]
async fn an_address_has_one_account_and_a_short_password_is_refused() {
    let h = harness();
    h.desk
        .add_staff(
            "ana@ingressio.com",
            "Ana Ruiz",
            StaffRole::Lead,
            Some(PASSWORD),
        )
        .await
        .unwrap();
    let again = h
        .desk
        .add_staff(
            "ANA@ingressio.com",
            "Otra",
            StaffRole::Agent,
            Some(PASSWORD),
        )
        .await;
    assert!(matches!(again, Err(DeskError::Invalid(e)) if e.contains_key("email")));
    let short = h
        .desk
        .add_staff(
            "eva@ingressio.com",
            "Eva",
            StaffRole::Agent,
            Some("corta123"),
        )
        .await;
    assert!(matches!(short, Err(DeskError::Invalid(e)) if e.contains_key("password")));
    let bad = h
        .desk
        .add_staff("no es correo", "Eva", StaffRole::Agent, Some(PASSWORD))
        .await;
    assert!(matches!(bad, Err(DeskError::Invalid(e)) if e.contains_key("email")));
    assert_eq!(h.desk.staff_members().await.unwrap().len(), 1);
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_for_fifteen_minutes_even_for_the_right_one() {
    let h = harness();
    h.desk
        .add_staff(
            "luis@ingressio.com",
            "Luis",
            StaffRole::Agent,
            Some(PASSWORD),
        )
        .await
        .unwrap();
    for _ in 0..MAX_FAILED_SIGN_INS {
        assert!(matches!(
            h.desk
                .sign_in("luis@ingressio.com", "adivinanza-123456")
                .await,
            Err(SignInError::Refused)
        ));
    }
    assert!(matches!(
        h.desk.sign_in("luis@ingressio.com", PASSWORD).await,
        Err(SignInError::Locked(_))
    ));
    h.clock.advance(LOCK_FOR + Duration::seconds(1));
    h.desk
        .sign_in("luis@ingressio.com", PASSWORD)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_session_ends_after_twelve_hours_at_sign_out_and_when_the_account_is_disabled() {
    let h = harness();
    h.desk
        .add_staff(
            "luis@ingressio.com",
            "Luis",
            StaffRole::Agent,
            Some(PASSWORD),
        )
        .await
        .unwrap();
    let morning = h
        .desk
        .sign_in("luis@ingressio.com", PASSWORD)
        .await
        .unwrap();
    h.clock.advance(Duration::hours(11));
    h.desk.session(&morning.token).await.unwrap();
    h.clock.advance(Duration::hours(1) + Duration::seconds(1));
    assert!(matches!(
        h.desk.session(&morning.token).await,
        Err(SessionError::Token(_))
    ));

    // Signing out in one browser ends the session in the other one too.
    let office = h
        .desk
        .sign_in("luis@ingressio.com", PASSWORD)
        .await
        .unwrap();
    let phone = h
        .desk
        .sign_in("luis@ingressio.com", PASSWORD)
        .await
        .unwrap();
    h.desk.sign_out(&office).await.unwrap();
    assert!(matches!(
        h.desk.session(&phone.token).await,
        Err(SessionError::SignedOut)
    ));

    let s = h
        .desk
        .sign_in("luis@ingressio.com", PASSWORD)
        .await
        .unwrap();
    h.desk
        .set_staff_active("luis@ingressio.com", false)
        .await
        .unwrap();
    assert!(h.desk.session(&s.token).await.is_err());
    assert!(matches!(
        h.desk.sign_in("luis@ingressio.com", PASSWORD).await,
        Err(SignInError::Refused)
    ));
}

#[tokio::test]
async fn a_forms_csrf_token_is_its_sessions_and_no_others() {
    let h = harness();
    h.desk
        .add_staff(
            "luis@ingressio.com",
            "Luis",
            StaffRole::Agent,
            Some(PASSWORD),
        )
        .await
        .unwrap();
    let a = h
        .desk
        .sign_in("luis@ingressio.com", PASSWORD)
        .await
        .unwrap();
    let b = h
        .desk
        .sign_in("luis@ingressio.com", PASSWORD)
        .await
        .unwrap();
    let token = h.desk.csrf_token(&a);
    assert!(h.desk.csrf_ok(&a, &token));
    assert!(!h.desk.csrf_ok(&b, &token));
    assert!(!h.desk.csrf_ok(&a, ""));
    let (cookie, csrf) = h.desk.presession();
    assert!(h.desk.presession_csrf_ok(&cookie, &csrf));
    let (other_cookie, _) = h.desk.presession();
    assert!(!h.desk.presession_csrf_ok(&other_cookie, &csrf));
}

#[tokio::test]
async fn a_person_vouched_for_by_the_identity_provider_gets_an_account_and_no_password() {
    let h = harness();
    let s = h
        .desk
        .sign_in_external("ana@ingressio.com", "Ana Ruiz", StaffRole::Lead)
        .await
        .unwrap();
    assert!(s.member.is_lead());
    assert_eq!(s.member.password_hash, None);
    // No password sign-in for such an account.
    assert!(matches!(
        h.desk.sign_in("ana@ingressio.com", "").await,
        Err(SignInError::Refused)
    ));
    // Removed from the leads' group: the role follows at the next sign-in.
    let s = h
        .desk
        .sign_in_external("ana@ingressio.com", "Ana Ruiz", StaffRole::Agent)
        .await
        .unwrap();
    assert!(!s.member.is_lead());
}

#[tokio::test]
async fn wrong_passwords_tried_all_at_once_are_all_counted() {
    let h = harness();
    h.desk
        .add_staff(
            "luis@ingressio.com",
            "Luis",
            StaffRole::Agent,
            Some(PASSWORD),
        )
        .await
        .unwrap();
    let guess = || h.desk.sign_in("luis@ingressio.com", "adivinanza-123456");
    let _ = tokio::join!(guess(), guess(), guess(), guess(), guess(), guess());
    assert!(matches!(
        h.desk.sign_in("luis@ingressio.com", PASSWORD).await,
        Err(SignInError::Locked(_))
    ));
}

#[tokio::test]
async fn a_password_reset_during_a_sign_in_is_not_undone_by_it() {
    let h = harness();
    h.desk
        .add_staff(
            "luis@ingressio.com",
            "Luis",
            StaffRole::Agent,
            Some(PASSWORD),
        )
        .await
        .unwrap();
    let new_password = "otra contraseña muy larga";
    let (signed, reset) = tokio::join!(
        h.desk.sign_in("luis@ingressio.com", PASSWORD),
        h.desk
            .set_staff_password("luis@ingressio.com", new_password)
    );
    reset.unwrap();
    // Whichever came first, the new password is the one that works afterwards, and a
    // session opened with the old one does not survive the reset.
    if let Ok(s) = signed {
        assert!(h.desk.session(&s.token).await.is_err());
    }
    h.desk
        .sign_in("luis@ingressio.com", new_password)
        .await
        .unwrap();
    assert!(matches!(
        h.desk.sign_in("luis@ingressio.com", PASSWORD).await,
        Err(SignInError::Refused)
    ));
}

#[tokio::test]
async fn an_agent_who_opened_a_ticket_before_a_colleague_took_it_cannot_take_it() {
    let h = harness();
    for (email, role) in [
        ("ana@ingressio.com", StaffRole::Agent),
        ("beto@ingressio.com", StaffRole::Agent),
    ] {
        h.desk.add_staff(email, email, role, None).await.unwrap();
    }
    let members = h.desk.staff_members().await.unwrap();
    let (ana, beto) = (&members[0], &members[1]);
    let folio = h
        .submit("Necesito ayuda con un reporte.")
        .await
        .ticket
        .folio
        .to_string();
    let seen = h.desk.ticket_by_folio(&folio).await.unwrap().version;
    let take = |m: &mesa::model::StaffMember| mesa::lifecycle::Action::Assign {
        to: Some(m.email.clone()),
    };
    h.desk
        .act_seen(&folio, ana, &take(ana), seen)
        .await
        .unwrap();
    let late = h.desk.act_seen(&folio, beto, &take(beto), seen).await;
    assert!(matches!(late, Err(DeskError::ChangedSince(_))), "{late:?}");
    let fresh = h.desk.ticket_by_folio(&folio).await.unwrap().version;
    let again = h.desk.act_seen(&folio, beto, &take(beto), fresh).await;
    assert!(matches!(again, Err(DeskError::Action(_))), "{again:?}");
    assert_eq!(
        h.desk
            .ticket_by_folio(&folio)
            .await
            .unwrap()
            .owner
            .as_deref(),
        Some("ana@ingressio.com")
    );
}
