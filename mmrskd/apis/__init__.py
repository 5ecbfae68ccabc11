from .export import export_student, student_state_dict

__all__ = ['export_student', 'student_state_dict']
