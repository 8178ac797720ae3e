//! Who exists in a generated data set: patients, clinicians, their approvals, and the
//! dedicated users of the projection-lag probes.

use events::Role;

/// The password of every generated user (one argon2 hash is computed and shared by all).
pub const PASSWORD: &str = "bench-password";

/// The users of a run. Users are numbered: patients `0..patients`, then clinicians. Lower
/// numbers are the heavier users of their role (the generator's skew follows the number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Population {
    pub patients: u32,
    pub clinicians: u32,
    /// Probe pairs of the lag measurement (`lag_s<i>` sends to `lag_r<i>` only).
    pub lag_pairs: u32,
}

impl Population {
    /// `users` people, 10% of them clinicians (at least 2 of each role).
    pub fn new(users: u32, lag_pairs: u32) -> Self {
        let clinicians = (users / 10).max(2);
        Self {
            patients: users.saturating_sub(clinicians).max(2),
            clinicians,
            lag_pairs,
        }
    }

    /// Patients and clinicians (the probes aside).
    pub fn people(&self) -> u32 {
        self.patients + self.clinicians
    }

    /// The role of user `id`.
    pub fn role(&self, id: u32) -> Role {
        if id < self.patients {
            Role::Patient
        } else {
            Role::Clinician
        }
    }

    /// The username of user `id`: `p000042` or `c00007`.
    pub fn username(&self, id: u32) -> String {
        if id < self.patients {
            format!("p{id:06}")
        } else {
            format!("c{:05}", id - self.patients)
        }
    }

    /// The id of the `index`-th clinician.
    pub fn clinician(&self, index: u32) -> u32 {
        self.patients + index % self.clinicians
    }

    /// The clinician approved for `patient`: patients are spread over clinicians round-robin,
    /// so clinician `j` has patients `j, j + C, j + 2C, ...`.
    pub fn clinician_of(&self, patient: u32) -> u32 {
        self.clinician(patient % self.clinicians)
    }

    /// How many patients clinician `id` has.
    pub fn patient_count(&self, clinician: u32) -> u32 {
        let j = clinician - self.patients;
        let full = self.patients / self.clinicians;
        full + u32::from(j < self.patients % self.clinicians)
    }

    /// The `k`-th patient of clinician `id` (`k < patient_count`).
    pub fn patient_of(&self, clinician: u32, k: u32) -> u32 {
        (clinician - self.patients) + k * self.clinicians
    }

    /// The lag probes' sender and recipient usernames of pair `i`.
    pub fn lag_pair(i: u32) -> (String, String) {
        (format!("lag_s{i:03}"), format!("lag_r{i:03}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_patient_is_among_the_patients_of_their_clinician() {
        let population = Population::new(57, 1);
        assert_eq!(population.clinicians, 5);
        assert_eq!(population.patients, 52);
        for patient in 0..population.patients {
            let clinician = population.clinician_of(patient);
            assert_eq!(population.role(clinician), Role::Clinician);
            let found = (0..population.patient_count(clinician))
                .any(|k| population.patient_of(clinician, k) == patient);
            assert!(found, "patient {patient}");
        }
        let total: u32 = (0..population.clinicians)
            .map(|j| population.patient_count(population.clinician(j)))
            .sum();
        assert_eq!(total, population.patients);
    }

    #[test]
    fn usernames_are_valid_and_distinct() {
        let population = Population::new(30, 2);
        let mut names: Vec<String> = (0..population.people())
            .map(|id| population.username(id))
            .collect();
        names.extend((0..2).flat_map(|i| {
            let (s, r) = Population::lag_pair(i);
            [s, r]
        }));
        assert!(names.iter().all(|n| events::limits::is_valid_username(n)));
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count);
    }
}
