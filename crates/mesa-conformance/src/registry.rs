//! The registry of customers: contacts found by address or domain, companies with their
//! contract periods and terms, and a company's contacts.

use chrono::NaiveDate;
use mesa::model::{CompanyRecord, ContractPeriod, CustomerRecord, Equipment, EquipmentStatus};

use crate::Store;

pub async fn customers_by_address_or_domain(store: Store) {
    let contact = CustomerRecord {
        company: "Bajío".into(),
        email: "ana@bajio.com.mx".into(),
        domain: String::new(),
        contact_name: "Ana Pérez".into(),
        phone: "4421234567".into(),
    };
    let domain = CustomerRecord {
        company: "Grupo Norte".into(),
        email: String::new(),
        domain: "norte.mx".into(),
        contact_name: String::new(),
        phone: "8181234567".into(),
    };
    store.upsert_customer(&contact).await.unwrap();
    store.upsert_customer(&domain).await.unwrap();
    assert_eq!(
        store.find_customer("ANA@bajio.com.mx").await.unwrap(),
        Some(contact.clone())
    );
    assert_eq!(
        store.find_customer("luis@norte.mx").await.unwrap(),
        Some(domain.clone())
    );
    assert_eq!(
        store.find_customer("otro@bajio.com.mx").await.unwrap(),
        None
    );
    assert_eq!(store.find_customer("x@gmail.com").await.unwrap(), None);
    let renamed = CustomerRecord {
        company: "Bajío S.A.".into(),
        ..contact
    };
    store.upsert_customer(&renamed).await.unwrap();
    assert_eq!(
        store
            .find_customer("ana@bajio.com.mx")
            .await
            .unwrap()
            .unwrap()
            .company,
        "Bajío S.A."
    );
}

pub async fn companies_periods_and_contacts(store: Store) {
    let day = |s: &str| s.parse::<NaiveDate>().expect("a date");
    let bajio = CompanyRecord {
        company: "Comercializadora del Bajío".into(),
        periods: vec![
            ContractPeriod {
                start: day("2025-01-01"),
                end: day("2025-12-31"),
                plan: "Nube 50".into(),
            },
            ContractPeriod {
                start: day("2026-03-01"),
                end: day("2027-02-28"),
                plan: "Nube 100".into(),
            },
        ],
        terms: serde_json::json!({"calendar": "24x7"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    };
    assert_eq!(
        store.company("Comercializadora del Bajío").await.unwrap(),
        None
    );
    store.upsert_company(&bajio).await.unwrap();
    let norte = CompanyRecord {
        company: "Grupo Norte".into(),
        ..Default::default()
    };
    store.upsert_company(&norte).await.unwrap();
    // Found by name whatever its case and spacing.
    assert_eq!(
        store
            .company("  comercializadora  DEL bajío")
            .await
            .unwrap(),
        Some(bajio.clone())
    );
    assert_eq!(
        store.list_companies().await.unwrap(),
        vec![bajio.clone(), norte.clone()]
    );
    // Writing it again replaces its periods.
    let renewed = CompanyRecord {
        periods: vec![bajio.periods[1].clone()],
        ..bajio.clone()
    };
    store.upsert_company(&renewed).await.unwrap();
    assert_eq!(store.company(&bajio.company).await.unwrap(), Some(renewed));

    let ana = CustomerRecord {
        company: "Comercializadora del Bajío".into(),
        email: "ana@bajio.com.mx".into(),
        domain: String::new(),
        contact_name: "Ana Pérez".into(),
        phone: "4421234567".into(),
    };
    let whole_domain = CustomerRecord {
        company: "COMERCIALIZADORA DEL BAJÍO".into(),
        email: String::new(),
        domain: "bajio.com.mx".into(),
        contact_name: String::new(),
        phone: String::new(),
    };
    let luis = CustomerRecord {
        company: "Grupo Norte".into(),
        email: "luis@norte.mx".into(),
        domain: String::new(),
        contact_name: "Luis Garza".into(),
        phone: String::new(),
    };
    for c in [&ana, &whole_domain, &luis] {
        store.upsert_customer(c).await.unwrap();
    }
    assert_eq!(
        store
            .contacts_of("comercializadora del bajío")
            .await
            .unwrap(),
        vec![whole_domain.clone(), ana.clone()]
    );
    // A contact that moves to another company leaves the first one's list.
    let moved = CustomerRecord {
        company: "Grupo Norte".into(),
        ..ana.clone()
    };
    store.upsert_customer(&moved).await.unwrap();
    assert_eq!(
        store.contacts_of(&bajio.company).await.unwrap(),
        vec![whole_domain]
    );
    assert_eq!(
        store.contacts_of("Grupo Norte").await.unwrap(),
        vec![moved, luis]
    );
    assert!(store.contacts_of("Nadie").await.unwrap().is_empty());
}

/// A device is found by its serial as customers write it, listed under its company, and
/// leaves the old company's list when it moves; contacts and devices of one company do not
/// mix.
pub async fn equipment_by_serial_and_company(store: Store) {
    let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let reader = Equipment {
        serial: "zk4500-0193".into(),
        model: "ZK4500".into(),
        company: "Tornillos del Norte".into(),
        site: "Planta Apodaca".into(),
        installed_on: d("2025-12-01"),
        warranty_until: d("2026-11-30"),
        status: EquipmentStatus::InService,
    };
    let other = Equipment {
        serial: "ZK4500-0200".into(),
        ..reader.clone()
    };
    store.upsert_equipment(&reader).await.unwrap();
    store.upsert_equipment(&other).await.unwrap();
    store
        .upsert_customer(&CustomerRecord {
            company: "Tornillos del Norte".into(),
            email: "ana@tornillos.mx".into(),
            domain: String::new(),
            contact_name: "Ana".into(),
            phone: String::new(),
        })
        .await
        .unwrap();
    let found = store.equipment(" zk4500-0193 ").await.unwrap().unwrap();
    assert_eq!(found.serial, "ZK4500-0193");
    assert_eq!(found.warranty_until, d("2026-11-30"));
    assert_eq!(store.equipment("ZK9999").await.unwrap(), None);
    let serials = |list: Vec<Equipment>| list.into_iter().map(|e| e.serial).collect::<Vec<_>>();
    assert_eq!(
        serials(store.equipment_of("tornillos  del norte").await.unwrap()),
        ["ZK4500-0193", "ZK4500-0200"]
    );
    assert_eq!(
        store
            .contacts_of("Tornillos del Norte")
            .await
            .unwrap()
            .len(),
        1
    );
    let moved = Equipment {
        company: "Aceros Monterrey".into(),
        status: EquipmentStatus::Replaced,
        ..other
    };
    store.upsert_equipment(&moved).await.unwrap();
    assert_eq!(
        serials(store.equipment_of("Tornillos del Norte").await.unwrap()),
        ["ZK4500-0193"]
    );
    let now_there = store.equipment_of("Aceros Monterrey").await.unwrap();
    assert_eq!(now_there.len(), 1);
    assert_eq!(now_there[0].status, EquipmentStatus::Replaced);
}

/// Incidents are written over by id and listed newest first; notices that belong to no
/// ticket are written once however often they are enqueued, and are then claimed and sent
/// like any mail.
pub async fn incidents_and_notices_written_once(store: Store) {
    use chrono::{DateTime, Duration, Utc};
    use mesa::model::{Resolution, TicketId};
    use mesa::outbox::{MailKind, OutboxItem};

    let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    let incident = |declared: &str| {
        new_incident(
            "Falla del hospedaje",
            "Nube",
            at(declared),
            "luisa@ingressio.com",
        )
    };
    let first = incident("2026-11-24T16:00:00Z");
    std::thread::sleep(std::time::Duration::from_millis(2));
    let mut second = incident("2026-11-25T16:00:00Z");
    store.put_incident(&first).await.unwrap();
    store.put_incident(&second).await.unwrap();
    second.resolved = Some(Resolution {
        at: at("2026-11-25T18:00:00Z"),
        summary: "Restablecido.".into(),
    });
    store.put_incident(&second).await.unwrap();
    let all = store.incidents().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], second, "newest first, as written last");
    assert_eq!(
        store.incident(&first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.incident("01NOSUCHINCIDENT").await.unwrap(), None);

    let now = at("2026-11-24T16:00:00Z");
    let notice = |to: &str| {
        OutboxItem::new(
            first.notice_id("declared", to),
            TicketId::parse(&first.id).unwrap(),
            MailKind::Incident,
            to,
            "mesa.test",
            None,
            "declared".into(),
            now,
        )
    };
    let items = vec![notice("ana@bajio.mx"), notice("luis@norte.mx")];
    assert_eq!(store.enqueue_outbox(&items).await.unwrap(), 2);
    let again = vec![notice("ana@bajio.mx"), notice("rosa@golfo.mx")];
    assert_eq!(store.enqueue_outbox(&again).await.unwrap(), 1, "one new");
    let claimed = store
        .claim_outbox(now + Duration::seconds(1), Duration::seconds(60), 10)
        .await
        .unwrap();
    let mut to: Vec<String> = claimed
        .iter()
        .filter(|i| i.kind == MailKind::Incident)
        .map(|i| i.to.clone())
        .collect();
    to.sort();
    assert_eq!(to, ["ana@bajio.mx", "luis@norte.mx", "rosa@golfo.mx"]);
}

/// The contract promises customers one notice per phase of an outage, never two. An outage
/// declared several times at once (staff and the automatic rule, two severity-1 intakes'
/// checks of the rule, a retry) is one open incident: the store writes the first and answers
/// the others with it.
pub async fn one_outage_declared_at_once_is_one_incident(store: Store) {
    use chrono::{DateTime, Utc};
    use mesa::model::{Incident, Resolution};

    let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    let declaration = |cause: &str, service: &str| {
        new_incident(cause, service, at("2026-11-24T16:00:00Z"), "rules")
    };
    // Declares each at the same moment; the one written and what each was answered.
    let declare_together = |tries: Vec<Incident>| {
        let store = store.clone();
        async move {
            let tasks: Vec<_> = tries
                .iter()
                .cloned()
                .map(|i| {
                    let store = store.clone();
                    tokio::spawn(async move { store.declare_incident(&i).await })
                })
                .collect();
            let mut answers = Vec::new();
            for task in tasks {
                answers.push(task.await.unwrap().expect("a declaration is answered"));
            }
            let written: Vec<&Incident> = tries
                .iter()
                .zip(&answers)
                .filter(|(_, answer)| answer.is_none())
                .map(|(tried, _)| tried)
                .collect();
            assert_eq!(written.len(), 1, "exactly one declaration is written");
            let written = written[0].clone();
            for answer in answers.into_iter().flatten() {
                assert_eq!(answer, written, "the others are answered with it");
            }
            written
        }
    };

    // Worded as two people would write it: case, accents and spacing aside, one subject.
    let tries = (0..8)
        .map(|n| match n % 2 {
            0 => declaration("Falla del hospedaje en AWS", "Registro de asistencia"),
            _ => declaration("  falla DEL hospedaje en aws", "REGISTRO de asistencia "),
        })
        .collect();
    let mut outage = declare_together(tries).await;
    assert_eq!(store.incidents().await.unwrap(), vec![outage.clone()]);

    // Another cause is another incident, even while the first is open.
    let reader = declaration("Falla de lectores", "Registro de asistencia");
    assert_eq!(store.declare_incident(&reader).await.unwrap(), None);

    // Once the outage is over, the same cause failing again is a new incident: one.
    outage.resolved = Some(Resolution {
        at: at("2026-11-24T18:00:00Z"),
        summary: "Restablecido.".into(),
    });
    store.put_incident(&outage).await.unwrap();
    let tries = (0..4)
        .map(|_| declaration("Falla del hospedaje en AWS", "Registro de asistencia"))
        .collect();
    let recurrence = declare_together(tries).await;
    assert_ne!(recurrence.id, outage.id);
    let mut ids: Vec<String> = store
        .incidents()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    ids.sort();
    let mut expected = vec![outage.id.clone(), reader.id, recurrence.id];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(
        store
            .incident(&outage.id)
            .await
            .unwrap()
            .map(|i| i.is_open()),
        Some(false),
        "the first outage stays resolved"
    );
}

/// An open incident of `cause` and `service`, with a fresh id.
fn new_incident(
    cause: &str,
    service: &str,
    declared_at: chrono::DateTime<chrono::Utc>,
    declared_by: &str,
) -> mesa::model::Incident {
    mesa::model::Incident {
        id: mesa::model::TicketId::new().as_str().to_string(),
        declared_at,
        declared_by: declared_by.into(),
        cause: cause.into(),
        service: service.into(),
        actions: "Conmutamos a la región de respaldo.".into(),
        estimated_resolution: None,
        symptoms: vec!["caído".into()],
        audience: mesa::model::Audience::Subscribed,
        updates: Vec::new(),
        resolved: None,
    }
}
