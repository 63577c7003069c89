//! Staff accounts: created once per address, found whatever the case of the address,
//! written back whole, listed by address.

use mesa::model::{StaffMember, StaffRole};

use super::{Store, t};

fn member(email: &str, name: &str, role: StaffRole) -> StaffMember {
    StaffMember {
        email: email.into(),
        name: name.into(),
        role,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        active: true,
        session_epoch: 0,
        failed_sign_ins: 0,
        locked_until: None,
        created_at: t("2026-11-10T16:00:00Z"),
        last_sign_in: None,
    }
}

pub async fn staff_accounts(store: Store) {
    assert_eq!(store.list_staff().await.unwrap(), Vec::new());
    let ana = member("ana@ingressio.com", "Ana Ruiz", StaffRole::Lead);
    let luis = member("luis@ingressio.com", "Luis Soto", StaffRole::Agent);
    assert!(store.create_staff(&luis).await.unwrap());
    assert!(store.create_staff(&ana).await.unwrap());

    // A second account for the same address, in any case, is refused and changes nothing.
    let impostor = member("ANA@ingressio.com", "Otra Ana", StaffRole::Agent);
    assert!(!store.create_staff(&impostor).await.unwrap());
    assert_eq!(
        store.staff("Ana@Ingressio.com").await.unwrap(),
        Some(ana.clone())
    );
    assert_eq!(store.staff("nadie@ingressio.com").await.unwrap(), None);

    // Written back whole: counters, lock, epoch, disabled.
    let changed = StaffMember {
        failed_sign_ins: 3,
        locked_until: Some(t("2026-11-10T16:15:00Z")),
        session_epoch: 2,
        active: false,
        last_sign_in: Some(t("2026-11-10T16:01:00Z")),
        ..luis.clone()
    };
    store.put_staff(&changed).await.unwrap();
    assert_eq!(
        store.staff("luis@ingressio.com").await.unwrap(),
        Some(changed.clone())
    );
    assert_eq!(store.list_staff().await.unwrap(), vec![ana, changed]);
}
